"""Contrastive baselines: CSS with InfoNCE (paper eq. 3) and the multi-view triplet loss of MV-CSS (eq. 4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

TEMPERATURE = 0.1  # paper gives no τ; 0.1 is the usual InfoNCE choice for cosine similarities
TRIPLET_MARGIN = 1.0  # paper's β > 0 is unspecified


def css_infonce_loss(anchor: Tensor, positive: Tensor, negatives: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """anchor, positive (B, D); negatives (B, N, D) -> scalar mean InfoNCE with cosine similarity (eq. 3).

    −log( exp(sim(a, p)/τ) / (exp(sim(a, p)/τ) + Σ_k exp(sim(a, n_k)/τ)) ): the positive is a near frame,
    the negatives far frames of the same video.
    """
    if anchor.dim() != 2 or positive.shape != anchor.shape:
        raise ValueError(f"anchor and positive must be (B, D), got {tuple(anchor.shape)} and {tuple(positive.shape)}")
    if negatives.dim() != 3 or negatives.shape[0] != anchor.shape[0] or negatives.shape[2] != anchor.shape[1]:
        raise ValueError(f"negatives must be (B, N, D), anchor is {tuple(anchor.shape)}, got {tuple(negatives.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    candidates = torch.cat([positive.unsqueeze(1), negatives], dim=1)  # (B, D), (B, N, D) -> (B, 1+N, D)
    logits = F.cosine_similarity(anchor.unsqueeze(1), candidates, dim=2) / temperature  # (B, 1+N)
    labels = torch.zeros(anchor.shape[0], dtype=torch.long, device=anchor.device)  # the positive sits at index 0
    return F.cross_entropy(logits, labels)


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = TRIPLET_MARGIN) -> Tensor:
    """anchor, positive, negative (B, D) -> scalar mean of max(0, ‖a − p‖² − ‖a − n‖² + margin) (eq. 4).

    MV-CSS: the positive is the same instant seen by another camera, the negative a distant frame.
    Distances are squared L2 on the raw features, as in eq. 4, so the margin is in squared feature units.
    """
    if anchor.dim() != 2 or positive.shape != anchor.shape or negative.shape != anchor.shape:
        raise ValueError(
            f"anchor, positive and negative must all be (B, D), got {tuple(anchor.shape)}, "
            f"{tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    d_pos = (anchor - positive).pow(2).sum(dim=1)  # (B, D) -> (B,)
    d_neg = (anchor - negative).pow(2).sum(dim=1)  # (B, D) -> (B,)
    return (d_pos - d_neg + margin).clamp(min=0.0).mean()
