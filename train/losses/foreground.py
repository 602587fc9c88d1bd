"""A box from background subtraction: where the frame differs from the background model is the athlete.

Not one of the paper's losses. The paper's detector learns where the athlete is only through the whole-frame
reconstruction against the background, and it says itself that this is slow ("it takes a long time for the
network to find the correct locations", supplementary S.1); on a CPU budget the detector's centre barely
moves. The same background gives a direct, label-free signal: the weighted centroid and spread of the
foreground map ``|I - B|`` are a rough box, and a robust (Huber) pull of each detected box towards it
bootstraps the detector, which the reconstruction then refines. Boxes are in affine_grid units (centre u,
half-size s; the box covers ``u ± s`` of the ``-1..1`` frame), as the detector predicts them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

UNIFORM_HALF_WIDTH = math.sqrt(3.0)  # half-width of a uniform mass over [-a, a] is sqrt(3) x its std


def foreground_map(frames: Tensor, background: Tensor, threshold: float = 0.08) -> Tensor:
    """(N, 3, h, w) frames and backgrounds in [0, 1] -> (N, h, w) foreground weights, 0 below ``threshold``.

    The weight is the mean absolute colour difference minus the threshold (camera noise and lighting drift
    stay below it), so strong differences count more than faint ones.
    """
    if frames.shape != background.shape or frames.dim() != 4:
        raise ValueError(f"frames and background must share one (N, 3, h, w) shape, got {tuple(frames.shape)} "
                         f"and {tuple(background.shape)}")
    diff = (frames - background).abs().mean(dim=1)  # (N, h, w)
    return F.relu(diff - threshold)


# a 10 m platform diver covers ~0.5% of the frame at a weight of ~0.1-0.2: a mass of 1e-4 to 7e-4 (1e-3 left
# every dive frame out); an empty frame's map is 0 (camera noise stays below the threshold)
MIN_MASS = 5e-5


def foreground_box(weights: Tensor, min_mass: float = MIN_MASS) -> tuple[Tensor, Tensor, Tensor]:
    """(N, h, w) foreground weights -> ``centre (N, 2)``, ``scale (N, 2)``, ``valid (N,)``.

    centre is the weighted mean pixel position and scale ``sqrt(3)`` times the weighted standard deviation
    (exact for a uniformly filled box), both in normalised coordinates (x right, y down, pixel centres at
    ``(2i + 1)/n - 1``). ``valid`` is False where the map holds less than ``min_mass`` of the frame (no
    foreground: an empty scene or a background that already contains the athlete).
    """
    n, h, w = weights.shape
    ys = (2 * torch.arange(h, device=weights.device, dtype=weights.dtype) + 1) / h - 1
    xs = (2 * torch.arange(w, device=weights.device, dtype=weights.dtype) + 1) / w - 1
    mass = weights.sum(dim=(1, 2))  # (N,)
    safe = mass.clamp_min(1e-12)
    px, py = weights.sum(dim=1), weights.sum(dim=2)  # (N, w) column and (N, h) row marginals
    cx, cy = (px * xs).sum(1) / safe, (py * ys).sum(1) / safe
    vx = (px * (xs[None] - cx[:, None]) ** 2).sum(1) / safe
    vy = (py * (ys[None] - cy[:, None]) ** 2).sum(1) / safe
    centre = torch.stack([cx, cy], dim=1)
    scale = UNIFORM_HALF_WIDTH * torch.stack([vx, vy], dim=1).sqrt()
    return centre, scale, mass / (h * w) >= min_mass


def foreground_box_loss(scale: Tensor, centre: Tensor, frames: Tensor, background: Tensor,
                        threshold: float = 0.08, with_scale: bool = True, delta: float = 0.1) -> Tensor:
    """Huber distance (in affine_grid units) of detected boxes ``scale, centre (N, 2)`` to the foreground box.

    The foreground box is a fixed target (no gradient into frames or background); frames without
    foreground are left out, and a batch with none gives 0 (with a gradient path).
    """
    with torch.no_grad():
        t_centre, t_scale, valid = foreground_box(foreground_map(frames.float(), background.float(), threshold))
    if not bool(valid.any()):
        return (centre * 0).sum()
    loss = F.huber_loss(centre[valid], t_centre[valid].to(centre.dtype), delta=delta, reduction="sum")
    if with_scale:
        loss = loss + F.huber_loss(scale[valid], t_scale[valid].to(scale.dtype), delta=delta, reduction="sum")
    return loss / (delta * valid.sum())  # per box, in units where a miss of `delta` costs about 1/2
