"""The detector: a ResNet on the downsampled frame predicting the athlete's box (scale, centre)."""

from __future__ import annotations

import torch
from torch import nn

from train.models.backbone import ResNetTrunk

SCALE_MIN = 0.2  # scale = SCALE_MIN + (1 - SCALE_MIN) * sigmoid(p): boxes between 20% and 100% of the frame
CENTRE_RANGE = 0.8  # centre = 0.8 * tanh(p): the box centre stays inside the frame
SCALE_BIAS = 0.5  # initial pre-activation of the scale (the last layer starts at zero), as in NSD


class Detector(nn.Module):
    """(N, 3, h, w) normalised frames -> ``scale (N, 2)``, ``centre (N, 2)`` in normalised coordinates."""

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(depth, width)
        self.head = nn.Linear(self.trunk.out_channels, 4)
        nn.init.zeros_(self.head.weight)  # start from one fixed box: learning moves it from there
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([SCALE_BIAS, SCALE_BIAS, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.head(self.trunk(x))  # (N, 4)
        scale = SCALE_MIN + (1 - SCALE_MIN) * torch.sigmoid(p[:, :2])
        centre = CENTRE_RANGE * torch.tanh(p[:, 2:])
        return scale, centre
