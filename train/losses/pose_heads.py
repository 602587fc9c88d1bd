"""Losses of the localising pose network's heads and its box detector (pure functions of tensors).

Coordinates are normalised (-1..1 over the crop or the frame); 3D in metres, pelvis-relative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.models.spatial import pixel_centres


def _check(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: pred and target shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")


def coord_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """pred, target (N, K, D); weight (N, K) -> the weighted mean over joints of the L1 distance (summed over D)."""
    _check("coord_l1", pred, target)
    if weight.shape != pred.shape[:2]:
        raise ValueError(f"coord_l1: weight must be {tuple(pred.shape[:2])}, got {tuple(weight.shape)}")
    per_joint = (pred - target).abs().sum(-1)  # (N, K)
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def heatmap_ce(logits: torch.Tensor, target: torch.Tensor, side: int, weight: torch.Tensor,
               sigma: float = 1.5) -> torch.Tensor:
    """logits (N, K, side*side) vs target joints (N, K, 2) crop coords: cross-entropy to a Gaussian of ``sigma`` cells.

    Sharpens the soft-argmax's distribution, so the heatmap's mass (and the confidence read from it) sits on
    the joint rather than spread symmetrically around it.
    """
    n, k, cells = logits.shape
    if cells != side * side or target.shape != (n, k, 2):
        raise ValueError(f"heatmap_ce: logits (N, K, {side * side}) and target (N, K, 2) expected, "
                         f"got {tuple(logits.shape)} and {tuple(target.shape)}")
    c = pixel_centres(side, logits.device, logits.dtype)
    cell = 2.0 / side
    gx = torch.exp(-((c[None, None, :] - target[..., :1]) / (sigma * cell)) ** 2 / 2)  # (N, K, side)
    gy = torch.exp(-((c[None, None, :] - target[..., 1:]) / (sigma * cell)) ** 2 / 2)
    gauss = (gy[..., :, None] * gx[..., None, :]).flatten(2)  # (N, K, side*side)
    gauss = gauss / gauss.sum(-1, keepdim=True).clamp(min=1e-8)
    ce = -(gauss * F.log_softmax(logits, dim=-1)).sum(-1)  # (N, K)
    return (ce * weight).sum() / weight.sum().clamp(min=1.0)


def confidence_bce(conf: torch.Tensor, pred: torch.Tensor, target: torch.Tensor, inside: torch.Tensor,
                   tolerance: float | torch.Tensor = 0.1, known: torch.Tensor | None = None) -> torch.Tensor:
    """conf (N, K) in (0, 1) learns whether the 2D joint ``pred`` is within ``tolerance`` of ``target`` (crop coords;
    a number, or (N, 1) per crop).

    Joints outside the crop (``inside`` false) are targets of 0: the model cannot have seen them. Joints whose
    label is unknown (``known`` false: a teacher gave none) are left out of the mean.
    """
    _check("confidence_bce", pred, target)
    hit = ((pred.detach() - target).norm(dim=-1) < tolerance) & inside  # (N, K)
    bce = F.binary_cross_entropy(conf.clamp(1e-6, 1 - 1e-6), hit.to(conf.dtype), reduction="none")
    if known is None:
        return bce.mean()
    return (bce * known).sum() / known.sum().clamp(min=1)


def box_loss(centre: torch.Tensor, half: torch.Tensor, logits: torch.Tensor, target: torch.Tensor,
             ce_weight: float = 0.05) -> torch.Tensor:
    """centre, half (N, 2) and centre logits (N, h, w) vs boxes ``target (N, 4)`` = [cx, cy, hx, hy] normalised.

    L1 on the centre and on the log half-size, plus a cross-entropy putting the centre map's mass on the
    target's cell (so the soft-argmax does not settle between two people or on the frame's middle).
    """
    if target.shape != (centre.shape[0], 4):
        raise ValueError(f"box_loss: target must be (N, 4), got {tuple(target.shape)}")
    h, w = logits.shape[1:]
    l1 = (centre - target[:, :2]).abs().sum(-1).mean()
    size = (torch.log(half) - torch.log(target[:, 2:].clamp(min=1e-3))).abs().sum(-1).mean()
    col = ((target[:, 0] + 1) / 2 * w).long().clamp(0, w - 1)
    row = ((target[:, 1] + 1) / 2 * h).long().clamp(0, h - 1)
    inside = (target[:, :2].abs() < 1).all(-1)
    ce = F.cross_entropy(logits.flatten(1), row * w + col, reduction="none")
    ce = (ce * inside).sum() / inside.sum().clamp(min=1)
    return l1 + size + ce_weight * ce
