"""The detector: a ResNet on the downsampled frame predicting the athlete's box (scale, centre)."""

from __future__ import annotations

import torch
from torch import nn

from train.models.backbone import ResNetTrunk

SCALE_MIN = 0.2  # scale = min_scale + (1 - min_scale) * sigmoid(p): by default boxes 20% to 100% of the frame
CENTRE_RANGE = 0.8  # centre = 0.8 * tanh(p): the box centre stays inside the frame
SCALE_BIAS = 0.5  # initial pre-activation of the scale (the last layer starts at zero), as in NSD


class Detector(nn.Module):
    """(N, 3, h, w) normalised frames -> ``scale (N, 2)``, ``centre (N, 2)`` in normalised coordinates."""

    def __init__(self, depth: int, width: int, min_scale: float = SCALE_MIN) -> None:
        super().__init__()
        self.min_scale = min_scale
        self.trunk = ResNetTrunk(depth, width)
        self.head = nn.Linear(self.trunk.out_channels, 4)
        nn.init.zeros_(self.head.weight)  # start from one fixed box: learning moves it from there
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([SCALE_BIAS, SCALE_BIAS, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.head(self.trunk(x))  # (N, 4)
        scale = self.min_scale + (1 - self.min_scale) * torch.sigmoid(p[:, :2])
        centre = CENTRE_RANGE * torch.tanh(p[:, 2:])
        return scale, centre
