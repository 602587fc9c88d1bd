"""Gravity tracking loss for free fall (paper §3.2, eq. 9-12), on the detector's boxes at four equidistant frames.

Sign convention: the paper's u^y *decreases* as the diver falls (its eq. 10 hinges on u_t − u_{t+1}). Here u
is the affine_grid centre, whose y grows *downwards*, so falling means u increases and the downward step is
u_{t+1} − u_t. A literal port of eq. 10 would reward the box for moving up.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

ORDER_MARGIN = 0.01  # paper gives no τ; 0.01 affine units = 0.5% of the frame height per step


@dataclass(frozen=True)
class GravityTerms:
    """The three terms of L_track (scalars, unweighted) and their weighted sum."""

    const_acc: Tensor
    order: Tensor
    scale: Tensor
    total: Tensor


def _check_u(u: Tensor) -> None:
    if u.dim() != 2 or u.shape[1] != 4:
        raise ValueError(f"u must be (B, 4) vertical centres at four equidistant frames, got {tuple(u.shape)}")


def constant_acceleration_loss(u: Tensor) -> Tensor:
    """u (B, 4) vertical box centres at equidistant frames -> scalar mean of ‖(u1 + 3u3) − (u4 + 3u2)‖² (eq. 9).

    Equal finite-difference accelerations at t2 and t3: u1 − 2u2 + u3 = u2 − 2u3 + u4, which is zero for
    any parabola, whatever the start, speed and sign convention.
    """
    _check_u(u)
    u1, u2, u3, u4 = u.unbind(dim=1)  # (B, 4) -> 4 x (B,)
    return ((u1 + 3.0 * u3) - (u4 + 3.0 * u2)).pow(2).mean()


def order_loss(u: Tensor, margin: float = ORDER_MARGIN) -> Tensor:
    """u (B, 4) affine_grid vertical centres (y down) -> scalar mean of Σ_t max(0, margin − (u_{t+1} − u_t)) (eq. 10).

    Zero once the box moves down by at least ``margin`` between consecutive frames.
    """
    _check_u(u)
    downward_step = u[:, 1:] - u[:, :-1]  # (B, 4) -> (B, 3); positive when falling in affine_grid's y-down frame
    return (margin - downward_step).clamp(min=0.0).sum(dim=1).mean()


def scale_consistency_loss(scale: Tensor) -> Tensor:
    """scale (B, 4, 2) = (sx, sy) or (B, 4) -> scalar mean of Σ_t ‖s_t − s_{t+1}‖² (eq. 11).

    Stops the detector from growing the box to satisfy the other two terms.
    """
    if scale.dim() == 2 and scale.shape[1] == 4:
        scale = scale.unsqueeze(-1)  # (B, 4) -> (B, 4, 1)
    if scale.dim() != 3 or scale.shape[1] != 4:
        raise ValueError(f"scale must be (B, 4, 2) or (B, 4), got {tuple(scale.shape)}")
    step = scale[:, 1:] - scale[:, :-1]  # (B, 4, S) -> (B, 3, S)
    return step.pow(2).sum(dim=(1, 2)).mean()


def gravity_loss(
    u: Tensor,
    scale: Tensor,
    margin: float = ORDER_MARGIN,
    const_acc_weight: float = 1.0,
    order_weight: float = 1.0,
    scale_weight: float = 1.0,
) -> GravityTerms:
    """u (B, 4) vertical centres, scale (B, 4, 2) or (B, 4) -> L_track = L_const-acc + L_order + L_sc (eq. 12).

    The paper weighs the three terms equally; the weights are here for ablations.
    """
    if scale.shape[0] != u.shape[0]:
        raise ValueError(f"u {tuple(u.shape)} and scale {tuple(scale.shape)} must have the same batch size")
    const_acc = constant_acceleration_loss(u)
    order = order_loss(u, margin)
    sc = scale_consistency_loss(scale)
    total = const_acc_weight * const_acc + order_weight * order + scale_weight * sc
    return GravityTerms(const_acc=const_acc, order=order, scale=sc, total=total)
