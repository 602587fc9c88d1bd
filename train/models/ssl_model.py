"""The self-supervised model: detect -> crop -> encode (tv from a colour-jittered crop, ti swapped in
time) -> decode -> paste -> compose with the background. One class, configured for every variant."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from train.models.config import ModelConfig
from train.models.detector import Detector
from train.models.encoder_decoder import Decoder, Encoder
from train.models.nsd import cross_view_latents
from train.models.spatial import compose, crop, paste

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def swap_ti(ti: torch.Tensor, how: str) -> torch.Tensor:
    """``ti (B, S, D)`` of the S frames of each item -> the ti each frame is decoded with (``ModelConfig.ti_swap``).

    "roll": frame i gets frame i-1's. "far": frames 0..1 (reference, near) get frame 2's (far), frames 2.. get
    frame 0's; with fewer than 3 frames the two swap.
    """
    if how == "roll":
        return ti.roll(shifts=1, dims=1)
    s = ti.shape[1]
    far = min(2, s - 1)
    source = [far if i < far else 0 for i in range(s)]
    return ti[:, source]


@dataclass
class SSLOutput:
    """Everything the losses read; B items of S frames each."""

    scale: torch.Tensor  # (B, S, 2)
    centre: torch.Tensor  # (B, S, 2)
    tv: torch.Tensor  # (B, S, tv_dim) (or tv_dim + ti_dim without the split)
    ti: torch.Tensor | None  # (B, S, ti_dim)
    target: torch.Tensor  # (B, S, 3, h, w) the frames at detector size, [0, 1]
    recon: torch.Tensor | None  # (B, S, 3, h, w) M*D + (1-M)*B
    mask: torch.Tensor | None  # (B, S, 1, h, w)
    crop: torch.Tensor  # (B, S, 3, C, C) the crops, [0, 1]
    pose2d: torch.Tensor | None = None  # (B, S, K, 2) 2D joints in crop coordinates (-1..1), weak-2D head
    background: torch.Tensor | None = None  # (B, S, 3, h, w) the background at detector size, [0, 1], if given


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return frames.permute(0, 3, 1, 2).float().div_(255.0)


def colour_jitter(x: torch.Tensor, generator: torch.Generator | None, strength: float = 0.4) -> torch.Tensor:
    """Random per-sample brightness, contrast, saturation and channel gains of (N, 3, H, W) images in [0, 1]."""
    n = x.shape[0]

    def u(*shape: int) -> torch.Tensor:
        r = torch.rand(*shape, generator=generator, device="cpu").to(x.device, x.dtype)
        return 1 + strength * (2 * r - 1)

    grey = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    x = grey + (x - grey) * u(n, 1, 1, 1)  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * u(n, 1, 1, 1)  # contrast
    x = x * u(n, 1, 1, 1) * (1 + 0.5 * (u(n, 3, 1, 1) - 1))  # brightness and colour cast
    return x.clamp(0, 1)


class SSLModel(nn.Module):
    """Detector, encoder and decoder of ``cfg``; ``forward`` takes uint8 frames and backgrounds."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.detector = Detector(cfg.detector_depth, cfg.detector_width, cfg.min_box) if cfg.use_stn else None
        ti_dim = cfg.ti_dim if cfg.split else 0
        enc_tv = cfg.tv_dim if cfg.split else cfg.tv_dim + cfg.ti_dim
        self.encoder = Encoder(cfg.encoder_depth, cfg.encoder_width, enc_tv, ti_dim)
        self.decoder = Decoder(enc_tv, ti_dim, cfg.crop_size, cfg.decoder_channels) if cfg.use_decoder else None
        self.pose2d = None
        if cfg.pose2d_joints > 0:  # the paper's weak-2D MLP on the time-variant features
            hidden = 2 * cfg.tv_dim
            self.pose2d = nn.Sequential(nn.Linear(enc_tv, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, 2 * cfg.pose2d_joints))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def detect(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) frames in [0, 1] -> scale (N, 2), centre (N, 2), frames at detector size."""
        small = F.interpolate(frames, size=self.cfg.detector_size, mode="area")  # (N, 3, h, w)
        if self.detector is None:
            n = frames.shape[0]
            return frames.new_ones(n, 2), frames.new_zeros(n, 2), small
        scale, centre = self.detector(self._norm(small))
        return scale, centre, small

    def features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inference path: (N, 3, H, W) in [0, 1] -> the pose feature, scale, centre, crop (no jitter)."""
        scale, centre, _ = self.detect(frames)
        crops = crop(frames, scale, centre, self.cfg.crop_size)
        tv, _ = self.encoder(self._norm(crops))
        return tv, scale, centre, crops

    def forward(self, frames: torch.Tensor, background: torch.Tensor | None = None,
                generator: torch.Generator | None = None, rotation: torch.Tensor | None = None) -> SSLOutput:
        """``frames (B, S, H, W, 3)`` uint8 (S frames of one video per item), ``background`` likewise or None.

        ``rotation (B, S, 3, 3)``: the cameras' world-to-camera rotations of multiview items; given, each
        frame is decoded from another view's ``tv`` rotated into its camera (NSD, ``train.models.nsd``).
        """
        b, s = frames.shape[:2]
        x = to_unit(frames.flatten(0, 1))  # (B*S, 3, H, W)
        scale, centre, target = self.detect(x)
        crops = crop(x, scale, centre, self.cfg.crop_size)  # (B*S, 3, C, C)
        if self.cfg.split:
            # tv from a colour-jittered copy (pose must not depend on colour), ti from the crop itself;
            # one encoder call on both halves (half the kernel launches)
            n = crops.shape[0]
            both_tv, both_ti = self.encoder(self._norm(torch.cat([colour_jitter(crops, generator), crops])))
            tv, ti = both_tv[:n], both_ti[n:]
        else:
            tv, ti = self.encoder(self._norm(crops))
        recon = mask = None
        bg = None  # at detector size: for the composition, and the foreground box term of detecting variants
        if background is not None and (self.decoder is not None or self.detector is not None):
            bg = F.interpolate(to_unit(background.flatten(0, 1)), size=self.cfg.detector_size, mode="area")
        if self.decoder is not None:
            pose, ti_swapped = tv, None
            if rotation is not None:
                if ti is None:
                    raise ValueError("cross-view decoding needs the tv/ti split (appearance from another frame)")
                pose, ti_swapped = cross_view_latents(tv.view(b, s, -1), ti.view(b, s, -1), rotation)
            elif ti is not None:  # appearance from another frame of the same video
                ti_swapped = swap_ti(ti.view(b, s, -1), self.cfg.ti_swap).flatten(0, 1)
            rgb, logit = self.decoder(pose, ti_swapped)  # (B*S, 3, C, C), (B*S, 1, C, C)
            full_rgb, mask = paste(rgb, logit, scale, centre, self.cfg.detector_size)
            recon = compose(full_rgb, mask, target if bg is None else bg)

        def per_item(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.view(b, s, *t.shape[1:])

        pose2d = None if self.pose2d is None else self.pose2d(tv).view(b * s, -1, 2)  # (B*S, K, 2)
        return SSLOutput(scale=per_item(scale), centre=per_item(centre), tv=per_item(tv), ti=per_item(ti),
                         target=per_item(target), recon=per_item(recon), mask=per_item(mask),
                         crop=per_item(crops), pose2d=per_item(pose2d), background=per_item(bg))
