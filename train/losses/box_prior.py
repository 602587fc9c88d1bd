"""Gaussian priors on the detector's boxes (paper supplementary S.1), used while the detector finds the subject.

The prior is on the **batch mean**, not on each box: every individual box stays free to fit its frame, only
the batch as a whole is pulled to a plausible size (and, for studio data, to the middle of the frame).
In affine_grid units a scale of s covers s of the frame's width/height, and a centre of 0 is the middle.
Not used for diving (the gravity loss replaces it) nor for variants without a detector.
"""

from __future__ import annotations

from torch import Tensor


def _gaussian_nll(mean: Tensor, target: float | Tensor, sigma: float) -> Tensor:
    """Negative log of an isotropic Gaussian, up to a constant, summed over the axes of ``mean``."""
    return ((mean - target) ** 2).sum() / (2.0 * sigma**2)


def box_prior_loss(
    scale: Tensor,
    centre: Tensor | None = None,
    target_scale: float | tuple[float, float] = 0.5,
    scale_sigma: float = 0.1,
    centre_sigma: float = 0.1,
) -> Tensor:
    """scale (B, 2) = (sx, sy), centre (B, 2) = (ux, uy) or None -> scalar prior on their batch means.

    Args:
        target_scale: the batch-mean box size as a fraction of the frame (paper: about 50%), one value or
            (x, y) for a framing where the athlete is taller than wide.
        scale_sigma, centre_sigma: prior widths in affine_grid units (the paper gives none; 0.1 lets the
            batch mean wander about ±0.1 before the prior costs as much as half a unit of loss).
        centre: when given, the batch-mean centre is pulled to the middle of the frame (paper: H36M only).
    """
    if scale.dim() != 2 or scale.shape[1] != 2:
        raise ValueError(f"scale must be (B, 2), got {tuple(scale.shape)}")
    if scale_sigma <= 0 or centre_sigma <= 0:
        raise ValueError(f"sigmas must be > 0, got scale_sigma={scale_sigma}, centre_sigma={centre_sigma}")
    target = scale.new_tensor(target_scale).expand(2)  # float or (x, y) -> (2,)
    loss = _gaussian_nll(scale.mean(dim=0), target, scale_sigma)  # (B, 2) -> (2,)
    if centre is not None:
        if centre.shape != scale.shape:
            raise ValueError(f"centre must be (B, 2) like scale {tuple(scale.shape)}, got {tuple(centre.shape)}")
        loss = loss + _gaussian_nll(centre.mean(dim=0), 0.0, centre_sigma)  # (B, 2) -> (2,)
    return loss
