"""The spatial transformer: cutting a box out of a frame and pasting a decoded crop back, differentiably.

Boxes are ``scale (N, 2)`` and ``centre (N, 2)`` in normalised image coordinates (x right, y down,
-1..1, ``align_corners=False``): the crop matrix is ``[[sx, 0, ux], [0, sy, uy]]``, its inverse
``1/s`` and ``-u/s``. Grids are built with plain tensor math instead of ``affine_grid`` so the graph
exports to ONNX below opset 20.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_FLOOR = 1e-4  # the mask never reaches 0, so gradients reach every decoded pixel


def pixel_centres(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Normalised coordinates of ``n`` pixel centres: ``(2i + 1) / n - 1``."""
    return (2 * torch.arange(n, device=device, dtype=dtype) + 1) / n - 1


def base_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, H, W, 2) grid of (x, y) pixel centres in normalised coordinates."""
    ys = pixel_centres(height, like.device, like.dtype)
    xs = pixel_centres(width, like.device, like.dtype)
    return torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)], -1)[None]


def crop(frames: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor, size: int,
         turn: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) frames -> (N, C, size, size) crops of the boxes (zeros outside the frame).

    The grid is ``base_grid * scale + centre``, built per axis (N x S numbers) and only then spread over the
    S x S crop: the same numbers, but ONNX Runtime's broadcasts over a last axis of 2 cost as much per frame as
    a convolution of the pose head.

    ``turn (N, 2)`` = ``(cos a, sin a)`` turns each crop by its angle ``a`` about its centre, in frame pixels: the
    crop's up direction is ``(sin a, -cos a)`` in the frame (x right, y down), so a body whose hips-to-shoulders
    direction that is stands upright in the crop (:func:`turn_points` maps crop points back).
    """
    n = frames.shape[0]
    u = pixel_centres(size, frames.device, frames.dtype)[None, :]  # (1, S)
    if turn is not None:  # not separable: each of the S x S crop pixels gets its own frame point
        c, s = turn[:, :1, None], turn[:, 1:, None]  # (N, 1, 1)
        col, row = u[:, None, :], u[:, :, None]  # (1, 1, S) crop x, (1, S, 1) crop y
        xs = (c * col - s * row) * scale[:, :1, None] + centre[:, :1, None]  # (N, S, S)
        ys = (s * col + c * row) * scale[:, 1:, None] + centre[:, 1:, None]
        return F.grid_sample(frames, torch.stack([xs, ys], -1), mode="bilinear", padding_mode="zeros",
                             align_corners=False)
    xs = u * scale[:, :1] + centre[:, :1]  # (N, S) crop column -> frame x
    ys = u * scale[:, 1:] + centre[:, 1:]  # (N, S) crop row -> frame y
    grid = torch.stack([xs[:, None, :].expand(n, size, size), ys[:, :, None].expand(n, size, size)], -1)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def turn_points(points: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """``points (N, K, 2+)`` in a turned crop's axes (:func:`crop`'s ``turn (N, 2)``) -> the frame's axes: x and y
    turned by the crop's angle (a third coordinate, depth, is kept)."""
    c, s = turn[:, None, :1], turn[:, None, 1:]  # (N, 1, 1)
    x, y = points[..., :1], points[..., 1:2]
    return torch.cat([c * x - s * y, s * x + c * y, points[..., 2:]], -1)


def smooth_window(coords: torch.Tensor) -> torch.Tensor:
    """``exp(1 - 1/(1 - sqrt(x^4 + y^4)))`` inside the unit square, 0 outside; coords (..., 2) -> (...)."""
    r = torch.sqrt(coords[..., 0] ** 4 + coords[..., 1] ** 4 + 1e-12)
    inside = r < 1
    r = torch.clamp(r, max=1 - 1e-4)  # keep the formula finite where it is masked out
    return torch.exp(1 - 1 / (1 - r)) * inside


def paste(crop_rgb: torch.Tensor, crop_mask_logit: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor,
          out_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded crops back into frames of ``out_size``: ``(rgb (N, 3, h, w), mask (N, 1, h, w))``.

    Each output pixel looks up its position in crop coordinates, ``(p - u) / s``; the mask is
    ``MASK_FLOOR + (1 - MASK_FLOOR) * sigmoid(logit)`` faded by the smooth window at the crop border.
    """
    h, w = out_size
    grid = (base_grid(h, w, crop_rgb) - centre[:, None, None, :]) / scale[:, None, None, :]  # (N, h, w, 2)
    rgb = F.grid_sample(crop_rgb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    prob = MASK_FLOOR + (1 - MASK_FLOOR) * torch.sigmoid(crop_mask_logit)
    mask = F.grid_sample(prob, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return rgb, mask * smooth_window(grid)[:, None]


def compose(rgb: torch.Tensor, mask: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """``M * D + (1 - M) * B`` for (N, 3, h, w) images and (N, 1, h, w) masks."""
    return mask * rgb + (1 - mask) * background


def pixels_to_crop(points: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor,
                   size: tuple[int, int]) -> torch.Tensor:
    """Pixel points (N, K, 2) of a frame of ``size = (H, W)`` -> crop coordinates (N, K, 2) of the boxes.

    Pixel centres sit at integers (as in the labels), so pixel x maps to ``(2x + 1) / W - 1``.
    """
    h, w = size
    wh = points.new_tensor([w, h])
    normalised = (2 * points + 1) / wh - 1
    return (normalised - centre[:, None, :]) / scale[:, None, :]
