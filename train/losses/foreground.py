"""A box from background subtraction: where the frame differs from the background model is the athlete.

Not one of the paper's losses. The paper's detector learns where the athlete is only through the whole-frame
reconstruction against the background, and it says itself that this is slow ("it takes a long time for the
network to find the correct locations", supplementary S.1); on a CPU budget the detector's centre barely
moves. The same background gives a direct, label-free signal: the span of the foreground map
``|I - B|``'s mass is a rough box, and a robust (Huber) pull of each detected box towards it
bootstraps the detector, which the reconstruction then refines. Boxes are in affine_grid units (centre u,
half-size s; the box covers ``u ± s`` of the ``-1..1`` frame), as the detector predicts them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EXTENT = (0.02, 0.98)  # the mass quantiles a foreground box spans along each axis
CORE_WINDOW = 1 / 15  # the side of the local-mean window that finds the dense core, as a share of the frame's
CORE_CELLS = 64  # the local mean is taken on a grid this many cells across (at most)
CORE_LEVEL = 0.2  # the core: where the local mean reaches this share of the densest window's
CORE_REACH = 2.5  # the box spans the mass within this many of the core's half-sizes from the core's centre


def foreground_map(frames: Tensor, background: Tensor, threshold: float = 0.08) -> Tensor:
    """(N, 3, h, w) frames and backgrounds in [0, 1] -> (N, h, w) foreground weights, 0 below ``threshold``.

    The weight is the mean absolute colour difference minus the threshold (camera noise stays below it), so
    strong differences count more than faint ones. The background is first matched to the frame's lighting:
    per frame and channel, the least-squares gain ``sum(I B) / sum(B B)`` (the athlete is a small part of the
    frame, so the venue decides it). Without it an 8% lighting drift puts a bright venue over the threshold
    everywhere: on the synthetic dive, half the flight's frames got a box as big as the frame.
    """
    if frames.shape != background.shape or frames.dim() != 4:
        raise ValueError(f"frames and background must share one (N, 3, h, w) shape, got {tuple(frames.shape)} "
                         f"and {tuple(background.shape)}")
    gain = (frames * background).sum(dim=(2, 3), keepdim=True) / (background * background).sum(
        dim=(2, 3), keepdim=True).clamp_min(1e-6)  # (N, 3, 1, 1)
    diff = (frames - gain * background).abs().mean(dim=1)  # (N, h, w)
    return F.relu(diff - threshold)


# a 10 m platform diver covers ~0.5% of the frame at a weight of ~0.1-0.2: a mass of 1e-4 to 7e-4 (1e-3 left
# every dive frame out); an empty frame's map is 0 (camera noise stays below the threshold)
MIN_MASS = 5e-5


def _extent(marginal: Tensor, grid: Tensor, lo: float, hi: float) -> tuple[Tensor, Tensor]:
    """Centre and half-size along one axis of the span between the ``lo`` and ``hi`` quantiles of ``marginal``
    ``(N, n)`` over pixel centres ``grid (n,)``; the span's end pixels count whole."""
    n = grid.numel()
    cdf = marginal.cumsum(dim=1) / marginal.sum(dim=1, keepdim=True).clamp_min(1e-12)
    first = grid[(cdf < lo).sum(dim=1).clamp(max=n - 1)]
    last = grid[(cdf < hi).sum(dim=1).clamp(max=n - 1)]
    return (first + last) / 2, (last - first) / 2 / (hi - lo) + 1 / n


def _span(weights: Tensor, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """The ``EXTENT`` quantile span of ``weights (N, h, w)`` as ``centre (N, 2)``, ``scale (N, 2)``."""
    (cx, sx), (cy, sy) = _extent(weights.sum(dim=1), xs, *EXTENT), _extent(weights.sum(dim=2), ys, *EXTENT)
    return torch.stack([cx, cy], dim=1), torch.stack([sx, sy], dim=1)


def _core(weights: Tensor) -> Tensor:
    """``weights`` where their local mean (a window ``CORE_WINDOW`` of the frame's side) reaches ``CORE_LEVEL``
    of the densest window's, else 0: the athlete's dense mass without the thin residue spread over the frame.

    The local mean is taken on a grid of ~``CORE_CELLS`` cells across (a window is then a few cells): on
    full-size maps a 17 x 17 window cost ~0.6 s per CPU training step of 96 frames; on the grid, ~20 ms.
    """
    n, h, w = weights.shape
    grid = (min(h, CORE_CELLS), min(w, CORE_CELLS))
    cells = F.adaptive_avg_pool2d(weights[:, None], grid)  # (N, 1, gh, gw)
    kh, kw = (max(3, round(side * CORE_WINDOW) | 1) for side in grid)
    cells = F.avg_pool2d(cells, (kh, kw), stride=1, padding=(kh // 2, kw // 2), count_include_pad=False)
    peak = cells.flatten(1).amax(dim=1)[:, None, None, None]
    dense = F.interpolate((cells >= CORE_LEVEL * peak).to(weights.dtype), size=(h, w), mode="nearest")[:, 0]
    return weights * dense


def foreground_box(weights: Tensor, min_mass: float = MIN_MASS) -> tuple[Tensor, Tensor, Tensor]:
    """(N, h, w) foreground weights -> ``centre (N, 2)``, ``scale (N, 2)``, ``valid (N,)``.

    Along each axis the box spans the ``EXTENT`` quantiles of the athlete's mass (widened back by the share
    they leave out), in normalised coordinates (x right, y down, pixel centres at ``(2i + 1)/n - 1``). The
    athlete's mass is the map within ``CORE_REACH`` half-sizes of the span of its dense core (``_core``), so
    residue elsewhere in the frame does not stretch the box and limbs next to the core still count.
    ``valid`` is False where the map holds less than ``min_mass`` of the frame (no foreground: an empty scene
    or a background that already contains the athlete).

    Measured as the target box's IoU with the labeled boxes of the labeled subjects (synthetic venues, the
    training backgrounds, 256 x 256): the span of the whole map gave ski 0.06 / dive 0.80 / studio 0.76: on
    ski, misregistered tree edges and snow spread a fifth of the mass over the frame, and the box was 7x the
    skier's width. With the core: 0.66 / 0.80 / 0.76. (A first version, the mass's mean and sqrt(3) x its
    standard deviation, was a third too narrow for a body: dive 0.57, studio 0.60.)
    """
    n, h, w = weights.shape
    ys = (2 * torch.arange(h, device=weights.device, dtype=weights.dtype) + 1) / h - 1
    xs = (2 * torch.arange(w, device=weights.device, dtype=weights.dtype) + 1) / w - 1
    core_centre, core_scale = _span(_core(weights), xs, ys)
    near_x = (xs[None] - core_centre[:, :1]).abs() <= CORE_REACH * core_scale[:, :1]  # (N, w)
    near_y = (ys[None] - core_centre[:, 1:]).abs() <= CORE_REACH * core_scale[:, 1:]  # (N, h)
    centre, scale = _span(weights * (near_y[:, :, None] & near_x[:, None, :]), xs, ys)
    mass = weights.sum(dim=(1, 2))  # (N,)
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
