"""Distance-based Similarity Loss (paper eq. 5 and 6) on the time-variant features.

Paper eq. 5, with d = |t_m − t_n| and sim the cosine similarity:
    d ≤ dmax/2:  (1 − 2d/dmax) · |1 − sim|        (close frames: pull together, less so as d grows)
    otherwise:   min(2d/dmax − 1, 1) · |sim|      (distant frames: push to orthogonal, fully from d = dmax)
DESIGN.md §2 states the same formula; the two weights meet at 0 at d = dmax/2, so the loss is continuous in d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _distance(d: Tensor | float, like: Tensor) -> Tensor:
    """d as a float tensor on sim's device, broadcastable to (B,)."""
    d = torch.as_tensor(d, dtype=like.dtype, device=like.device)
    if d.dim() > 1 or (d.dim() == 1 and d.shape != like.shape):
        raise ValueError(f"d must be a scalar or (B,) = {tuple(like.shape)}, got {tuple(d.shape)}")
    return d.abs()  # a signed frame offset works too: only the distance counts


def dsl_loss(sim: Tensor, d: Tensor | float, dmax: float) -> Tensor:
    """sim (B,) cosine similarity; d scalar or (B,) frame distance; dmax > 0 -> scalar mean over the batch."""
    if sim.dim() != 1:
        raise ValueError(f"sim must be (B,), got {tuple(sim.shape)}")
    if dmax <= 0:
        raise ValueError(f"dmax must be > 0, got {dmax}")
    ratio = 2.0 * _distance(d, sim) / dmax  # 0 at d = 0, 1 at dmax/2, 2 at dmax
    close = ratio <= 1.0
    weight = torch.where(close, 1.0 - ratio, (ratio - 1.0).clamp(max=1.0))
    # Both branches are evaluated; torch.where keeps the gradient of the chosen one only.
    per_pair = weight * torch.where(close, (1.0 - sim).abs(), sim.abs())
    return per_pair.mean()


def _cosine(a: Tensor, b: Tensor, name: str) -> Tensor:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"tv_ref and {name} must both be (B, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    return F.cosine_similarity(a, b, dim=1)  # (B, D) x (B, D) -> (B,)


def dsl_all(
    tv_ref: Tensor,
    tv_near: Tensor,
    tv_far: Tensor,
    tv_mid: Tensor | None,
    d_near: Tensor | float,
    d_far: Tensor | float,
    d_mid: Tensor | float | None,
    dmax: float,
) -> Tensor:
    """tv_* (B, D) time-variant features; d_* scalar or (B,) distances to the reference -> scalar (paper eq. 6).

    The sum of the DSL over (ref, near), (ref, far) and (ref, mid); ``tv_mid=None`` (sampling without an
    intermediate frame) leaves out the third pair.
    """
    loss = dsl_loss(_cosine(tv_ref, tv_near, "tv_near"), d_near, dmax)
    loss = loss + dsl_loss(_cosine(tv_ref, tv_far, "tv_far"), d_far, dmax)
    if tv_mid is not None:
        if d_mid is None:
            raise ValueError("d_mid must be given with tv_mid")
        loss = loss + dsl_loss(_cosine(tv_ref, tv_mid, "tv_mid"), d_mid, dmax)
    return loss
