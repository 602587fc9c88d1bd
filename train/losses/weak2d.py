"""Weak 2D supervision (paper eq. 13): regress 2D joints from the time-variant features where labels exist.

Most frames carry no 2D label, so a visibility mask decides which joints count. Masked targets may hold
anything, NaN included (the label format marks missing joints that way), without reaching the loss or its
gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor


def weak2d_loss(pred: Tensor, target: Tensor, visible: Tensor) -> Tensor:
    """pred, target (B, K, 2) joints; visible (B, K) bool or 0/1 -> scalar mean squared error over visible coordinates.

    The paper's eq. 13 sums over joints and coordinates per sample; this is that sum divided by the number
    of visible coordinates, so the weight η does not depend on K or on how many joints are labelled.
    A batch without any visible joint returns exactly 0, still connected to ``pred``.
    """
    if pred.dim() != 3 or pred.shape[2] != 2 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (B, K, 2), got {tuple(pred.shape)} and {tuple(target.shape)}")
    if visible.shape != pred.shape[:2]:
        raise ValueError(f"visible must be (B, K) = {tuple(pred.shape[:2])}, got {tuple(visible.shape)}")
    mask = (visible != 0).unsqueeze(-1).expand_as(pred)  # (B, K) -> (B, K, 2)
    # Replace hidden targets before subtracting: a NaN there would make NaN·0 = NaN in the backward pass.
    safe_target = torch.where(mask, target, pred.detach())
    sq = (pred - safe_target).pow(2) * mask
    return sq.sum() / mask.sum().clamp_min(1)
