"""DrNet's losses (Denton & Birodkar 2017): content similarity and the scene discriminator's two sides.

The scene discriminator reads a pair of pose vectors and says whether they come from the same video.
It is trained with binary cross-entropy on true labels (:func:`discriminator_loss`); the pose encoder is
trained so that it outputs 0.5 on same-video pairs (:func:`confusion_loss`, cross-entropy towards 0.5,
DrNet's formulation), i.e. pose vectors must not tell which video they come from.
Logits rather than probabilities: ``binary_cross_entropy_with_logits`` is stable and autocast-safe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_logits(logits: Tensor, name: str = "logits") -> None:
    if logits.dim() != 1:
        raise ValueError(f"{name} must be (N,), got {tuple(logits.shape)}")


def discriminator_loss(logits: Tensor, same: Tensor) -> Tensor:
    """logits (N,), same (N,) 1 for a same-video pair, 0 otherwise -> scalar mean binary cross-entropy."""
    _check_logits(logits)
    if same.shape != logits.shape:
        raise ValueError(f"same must match logits {tuple(logits.shape)}, got {tuple(same.shape)}")
    return F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype))


def confusion_loss(logits: Tensor) -> Tensor:
    """logits (N,) of same-video pairs -> scalar mean cross-entropy towards 0.5 (the encoder's side).

    Equals ``log(2 cosh(l / 2))`` per pair: ``ln 2`` at logit 0 (output 0.5), its minimum, and larger for
    any confident output either way.
    """
    _check_logits(logits)
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))


def discriminator_accuracy(logits: Tensor, same: Tensor) -> Tensor:
    """logits (N,), same (N,) -> scalar share of pairs on the right side of 0.5 (a statistic, no gradient)."""
    _check_logits(logits)
    if same.shape != logits.shape:
        raise ValueError(f"same must match logits {tuple(logits.shape)}, got {tuple(same.shape)}")
    return ((logits.detach() > 0) == same.bool()).float().mean()


def content_similarity_loss(content: Tensor, other: Tensor) -> Tensor:
    """content, other (N, D): content features of two frames of one video -> scalar mean squared difference."""
    if content.dim() != 2 or other.shape != content.shape:
        raise ValueError(f"content and other must both be (N, D), got {tuple(content.shape)} and {tuple(other.shape)}")
    return F.mse_loss(content, other)


def uniform_confusion_loss(logits: Tensor) -> Tensor:
    """logits (N, K) of a K-way classifier -> scalar mean cross-entropy towards the uniform answer.

    The encoder's side of an identity adversary: ``log K`` when every class is equally likely (its minimum),
    larger when the classifier can name a class. Unlike pushing the true class down (gradient reversal), it
    has a floor, so the encoder is not rewarded for making the classifier confidently wrong.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, K), got {tuple(logits.shape)}")
    return -F.log_softmax(logits.float(), dim=1).mean()
