"""Batched augmentation of cached crops and frames, with the labels moved along (torch, CPU).

Geometry (pose crops): the crop box is the labeled box grown by the runtime's margin, then jittered in
scale and position as a detector would miss it, rotated, sometimes squashed sideways (sources whose aspect
is not the model's 16:9 arrive squashed) and mirrored (left/right joints swapped, 3D x negated).
Appearance (both): brightness, contrast, saturation, channel gains, grey, light falling off across the image,
a random convolution mixed in (new textures and colours), blur, sensor noise, and an occluder pasted from another
sample of the batch. Every draw comes from an owned ``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tvstream.skeleton import H36M_17

FLIP = torch.as_tensor(H36M_17.flip_permutation())
HIPS = [H36M_17.index("rhip"), H36M_17.index("lhip")]
SHOULDERS = [H36M_17.index("rshoulder"), H36M_17.index("lshoulder")]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random draws (uniform unless said)."""

    scale: tuple[float, float] = (0.8, 1.3)  # crop side / (margin x box side): a detector's size error
    shift: float = 0.15  # of the crop side, each axis
    rotate_deg: float = 35.0
    rotate_p: float = 0.5
    # the share of crops first turned so the labeled hips-to-shoulders direction stands upright: the crop a model
    # whose crop turns with the body reads at run time (PoseNetConfig.crop_rotation); the rotation above is then
    # the tracker's error around it. With it > 0 the held-out crops are turned upright too
    upright_p: float = 0.0
    squash: tuple[float, float] = (0.6, 1.05)  # horizontal compression of the source
    squash_p: float = 0.3
    flip_p: float = 0.5
    brightness: tuple[float, float] = (0.6, 1.4)
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.2, 1.5)
    gains: float = 0.15  # per-channel colour cast
    grey_p: float = 0.1
    blur_p: float = 0.25
    noise: float = 0.04  # max std of sensor noise in [0, 1] units
    occlude_p: float = 0.35
    zoom_p: float = 0.5  # frames: show a part of the frame, so the athlete gets larger
    zoom: tuple[float, float] = (0.45, 1.0)
    # frames: a narrower camera (portrait 9:16 .. 4:3) between black bars, as the runtime fits it (tvstream.frame_fit):
    # the share of the frame's width the picture keeps. 0.3 trained the shipped detector (portrait box IoU 0.48 ->
    # 0.57 in 1500 steps, 16:9 clips unchanged: benchmarks/results/frame_fit_notes.md)
    bars_p: float = 0.3
    bars: tuple[float, float] = (0.3, 0.8)
    # the look of camera footage the renderer does not make: a random convolution of the image mixed into it
    # (texture and colour drawn anew, shapes kept; Xu et al., ICLR 2021, "random convolutions"), kernel sides drawn
    # from `randconv_k`, and light falling off across the image (a shaded side) by up to `shade` of its level
    randconv_p: float = 0.0
    randconv_k: tuple[int, ...] = (1, 3, 5, 7)
    shade_p: float = 0.0
    shade: float = 0.6


def _u(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _p(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def pose_crops(images: torch.Tensor, joints2d: torch.Tensor, joints3d: torch.Tensor, tight: torch.Tensor,
               size: int, margin: float, cfg: AugmentConfig, g: torch.Generator, train: bool = True,
               weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pre-crops (N, 3, P, P) [0, 1] -> crops (N, 3, size, size), 2D (N, K, 2) crop coords, 3D (N, K, 3), and
    the joints' label weights (N, K) (``weight``, ones when not given) in the same joint order (a flip swaps
    left and right).

    ``joints2d`` and ``tight`` (N, 2) are in the pre-crop's normalised coordinates (the box is centred).
    Without ``train`` the crop is the runtime's: the box grown by ``margin``, no jitter.
    """
    n = images.shape[0]
    w = torch.ones(joints2d.shape[:2]) if weight is None else weight
    side = margin * tight.max(dim=1).values  # (N,) half-side of the crop, pre-crop units
    if train:
        side = side * _u(n, *cfg.scale, g)
        shift = (torch.rand(n, 2, generator=g) * 2 - 1) * cfg.shift * side[:, None]  # (N, 2)
        angle = torch.where(_p(n, cfg.rotate_p, g), _u(n, -cfg.rotate_deg, cfg.rotate_deg, g), torch.zeros(n))
        upright = _p(n, cfg.upright_p, g) if cfg.upright_p > 0 else torch.zeros(n, dtype=torch.bool)  # no draw at 0
        squash = torch.where(_p(n, cfg.squash_p, g), _u(n, *cfg.squash, g), torch.ones(n))
        flip = _p(n, cfg.flip_p, g)
    else:
        shift, angle, squash = torch.zeros(n, 2), torch.zeros(n), torch.ones(n)
        upright = torch.full((n,), cfg.upright_p > 0)
        flip = torch.zeros(n, dtype=torch.bool)
    angle = angle + torch.where(upright, body_angle(joints2d, w), torch.zeros(n))
    a = angle * math.pi / 180
    cos, sin = torch.cos(a), torch.sin(a)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    sign = torch.where(flip, -1.0, 1.0)
    diag = torch.diag_embed(torch.stack([sign * side / squash, side], -1))  # (N, 2, 2)
    lin = rot @ diag  # output crop coords -> pre-crop coords
    theta = torch.cat([lin, shift[:, :, None]], dim=2)  # (N, 2, 3)
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    crops = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    j2 = torch.linalg.solve(lin[:, None], (joints2d - shift[:, None])[..., None])[..., 0]  # (N, K, 2)
    rot_t = rot.transpose(1, 2)  # the athlete turns by the inverse of the sampling rotation
    j3 = joints3d.clone()
    j3[..., :2] = (rot_t[:, None] @ joints3d[..., :2, None])[..., 0]
    j3[..., 0] = j3[..., 0] * sign[:, None]
    j2 = torch.where(flip[:, None, None], j2[:, FLIP], j2)
    j3 = torch.where(flip[:, None, None], j3[:, FLIP], j3)
    w = torch.where(flip[:, None], w[:, FLIP], w)
    return crops, j2, j3, w


def body_angle(joints2d: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N,) degrees from upright of the hips-to-shoulders direction of ``joints2d (N, K, 2)`` (x right, y down, equal
    units on both axes): ``atan2(dx, -dy)``, as ``tvstream.tracking.JointTracker`` turns the run's crop; 0 where a
    hip or shoulder is not labeled (``weight (N, K)`` 0)."""
    d = joints2d[:, SHOULDERS].mean(1) - joints2d[:, HIPS].mean(1)  # (N, 2)
    known = (weight[:, HIPS] > 0).all(1) & (weight[:, SHOULDERS] > 0).all(1) & torch.isfinite(d).all(1)
    return torch.where(known, torch.rad2deg(torch.atan2(d[:, 0], -d[:, 1])), torch.zeros(len(d)))


def zoom_frames(frames: torch.Tensor, box: torch.Tensor, cfg: AugmentConfig,
                g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (N, 3, h, w) and boxes [cx, cy, hx, hy] -> a window of each frame holding the box centre, mirrored;
    with ``cfg.bars_p`` some show only a narrower picture between black bars, the athlete inside it."""
    n = frames.shape[0]
    z = torch.where(_p(n, cfg.zoom_p, g), _u(n, *cfg.zoom, g), torch.ones(n))  # (N,) window half-size
    lo, hi = (box[:, :2] - (1 - z[:, None])).clamp(min=-1 + z[:, None]), (box[:, :2] + (1 - z[:, None]))
    hi = hi.clamp(max=1 - z[:, None])
    lo = torch.minimum(lo, hi)
    wc = lo + (hi - lo) * torch.rand(n, 2, generator=g)  # (N, 2) window centre
    # bars: only the middle `keep` of the output's width shows the picture; its window stays on the athlete
    bars = _p(n, cfg.bars_p, g)
    keep = torch.where(bars, _u(n, *cfg.bars, g), torch.ones(n))  # (N,)
    half = keep * z  # the picture's half-width in the frame's coordinates
    left = torch.maximum(box[:, 0] + box[:, 2] - half, half - 1)  # holds the box, stays inside the frame
    right = torch.minimum(box[:, 0] - box[:, 2] + half, 1 - half)
    inside = torch.where(left <= right, left + (right - left) * torch.rand(n, generator=g), box[:, 0])
    wc[:, 0] = torch.where(bars, inside, wc[:, 0])
    flip = _p(n, cfg.flip_p, g)
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = sign * z, z
    theta[:, :, 2] = wc
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if bars.any():
        x = torch.linspace(-1, 1, 2 * frames.shape[3] + 1)[1::2]  # output column centres
        out = out * (x.abs()[None, :] <= keep[:, None]).to(out.dtype)[:, None, None, :]
    centre = (box[:, :2] - wc) / z[:, None]
    centre[:, 0] = centre[:, 0] * sign
    return out, torch.cat([centre, box[:, 2:] / z[:, None]], dim=1)


def appearance(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Photometric augmentation of (N, 3, H, W) [0, 1] images (a new tensor)."""
    n = x.shape[0]
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * _u(n, *cfg.saturation, g).view(n, 1, 1, 1)
    x = torch.where(_p(n, cfg.grey_p, g).view(n, 1, 1, 1), x.mean(dim=1, keepdim=True).expand_as(x), x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * _u(n, *cfg.contrast, g).view(n, 1, 1, 1)
    x = x * _u(n, *cfg.brightness, g).view(n, 1, 1, 1)
    x = x * (1 + (torch.rand(n, 3, 1, 1, generator=g) * 2 - 1) * cfg.gains)
    if cfg.shade_p > 0:
        x = shade(x, cfg.shade_p, cfg.shade, g)
    if cfg.randconv_p > 0:
        x = random_convolution(x, cfg.randconv_p, cfg.randconv_k, g)
    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    x = torch.where(_p(n, cfg.blur_p, g).view(n, 1, 1, 1), blurred, x)
    x = x + torch.randn(x.shape, generator=g) * (torch.rand(n, 1, 1, 1, generator=g) * cfg.noise)
    if cfg.occlude_p > 0:
        x = occlude(x, cfg.occlude_p, g)
    return x.clamp(0, 1)


def shade(x: torch.Tensor, p: float, amount: float, g: torch.Generator) -> torch.Tensor:
    """Light that falls off across some images: ``x`` times a ramp ``1 + a (cos t X + sin t Y)`` over the image
    (``X, Y`` in -1..1, ``t`` a drawn direction, ``a`` up to ``amount``), so one side is darker than the other."""
    n, _, h, w = x.shape
    a = torch.where(_p(n, p, g), _u(n, 0.0, amount, g), torch.zeros(n))
    t = _u(n, 0.0, 2 * math.pi, g)
    ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
    ramp = torch.cos(t)[:, None, None] * xs[None, None, :] + torch.sin(t)[:, None, None] * ys[None, :, None]
    return x * (1 + a[:, None, None] * ramp).clamp(min=0.1)[:, None]


def random_convolution(x: torch.Tensor, p: float, sides: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Some images mixed with a random convolution of themselves: ``m x + (1 - m) c(x)``, ``m`` uniform in 0..1,
    ``c`` a 3 -> 3 convolution of a drawn odd side with normal weights, its output brought to the image's own
    per-channel mean and spread (textures and colours change, outlines stay where they are)."""
    n = x.shape[0]
    chosen = torch.nonzero(_p(n, p, g)).flatten()
    if len(chosen) == 0:
        return x
    out = x.clone()
    side = torch.as_tensor(sides)[torch.randint(0, len(sides), (len(chosen),), generator=g)]
    for k in side.unique().tolist():
        idx = chosen[side == k]
        m = len(idx)
        weight = torch.randn(m * 3, 3, k, k, generator=g) / math.sqrt(3 * k * k)
        src = x[idx]
        flat = src.reshape(1, m * 3, *x.shape[2:])  # one image of m * 3 channels: a grouped convolution per image
        if k > 1:
            flat = F.pad(flat, [k // 2] * 4, mode="reflect")
        conv = F.conv2d(flat, weight, groups=m).reshape(src.shape)
        mean, std = src.mean(dim=(2, 3), keepdim=True), src.std(dim=(2, 3), keepdim=True)
        conv = (conv - conv.mean(dim=(2, 3), keepdim=True)) / conv.std(dim=(2, 3), keepdim=True).clamp(min=1e-4)
        mix = torch.rand(m, 1, 1, 1, generator=g)
        out[idx] = mix * src + (1 - mix) * (mean + conv * std.clamp(min=0.05))
    return out


def occlude(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Paste a rectangle of another sample of the batch (real texture, not a flat colour) into some images."""
    n, _, h, w = x.shape
    out = x.clone()
    donors = torch.roll(x, 1, dims=0)
    for i in torch.nonzero(_p(n, p, g)).flatten().tolist():
        rh, rw = (int(v) for v in (_u(2, 0.15, 0.45, g) * torch.tensor([h, w])))
        y0, x0 = int(torch.randint(0, h - rh + 1, (1,), generator=g)), int(torch.randint(0, w - rw + 1, (1,), generator=g))
        out[i, :, y0:y0 + rh, x0:x0 + rw] = donors[i, :, y0:y0 + rh, x0:x0 + rw]
    return out
