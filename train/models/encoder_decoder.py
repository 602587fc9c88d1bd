"""Encoder (crop -> time-variant ``tv`` and time-invariant ``ti`` features) and decoder (features -> crop)."""

from __future__ import annotations

import torch
from torch import nn

from train.models.backbone import ResNetTrunk


class Encoder(nn.Module):
    """(N, 3, C, C) normalised crops -> ``tv (N, tv_dim)``, ``ti (N, ti_dim)`` (one shared trunk, two heads).

    ``ti_dim = 0`` (variants without the split) has no ti head and returns ``ti = None``.
    """

    def __init__(self, depth: int, width: int, tv_dim: int, ti_dim: int) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(depth, width)
        self.tv = nn.Linear(self.trunk.out_channels, tv_dim)
        self.ti = nn.Linear(self.trunk.out_channels, ti_dim) if ti_dim > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)
        return self.tv(h), None if self.ti is None else self.ti(h)


def _up_block(cin: int, cout: int) -> nn.Sequential:
    """Bilinear x2 and three 3x3 convolutions (paper S.1)."""
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
    for i in range(3):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Decoder(nn.Module):
    """``tv``, ``ti`` -> crop RGB (N, 3, C, C) in [0, 1] and mask logits (N, 1, C, C).

    Each feature goes through its own FC to a ``channels x C/8 x C/8`` map; the two maps are concatenated
    and upsampled three times (the paper: 128 x 16 x 16 each, up to 32 x 128 x 128).
    """

    def __init__(self, tv_dim: int, ti_dim: int, crop_size: int, channels: int) -> None:
        super().__init__()
        self.start = crop_size // 8
        self.channels = channels
        cells = channels * self.start**2
        self.from_tv = nn.Linear(tv_dim, cells)
        self.from_ti = nn.Linear(ti_dim, cells) if ti_dim > 0 else None
        cin = channels * (2 if ti_dim > 0 else 1)
        widths = [cin, channels, channels // 2, max(channels // 4, 8)]
        self.up = nn.Sequential(*[_up_block(widths[i], widths[i + 1]) for i in range(3)])
        self.out = nn.Conv2d(widths[-1], 4, 1)

    def forward(self, tv: torch.Tensor, ti: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        n, s = tv.shape[0], self.start
        maps = [self.from_tv(tv).view(n, self.channels, s, s)]  # (N, ch, C/8, C/8)
        if self.from_ti is not None:
            maps.append(self.from_ti(ti).view(n, self.channels, s, s))
        y = self.out(self.up(torch.cat(maps, dim=1)))  # (N, 4, C, C)
        return torch.sigmoid(y[:, :3]), y[:, 3:]
