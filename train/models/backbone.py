"""ResNet trunks of configurable width, built from torchvision's blocks (no downloaded weights)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

_LAYERS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNetTrunk(nn.Module):
    """ResNet-18/50 up to global average pooling; ``width`` channels in the first stage (64 in torchvision).

    Args:
        depth: 18 or 50.
        width: channels of stage 1; stages double it.
        norm_layer: normalisation (BatchNorm2d by default); injected, not a flag.
    """

    def __init__(self, depth: int = 18, width: int = 64,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        if depth not in _LAYERS:
            raise ValueError(f"depth must be 18 or 50, got {depth}")
        if width < 4:
            raise ValueError(f"width must be >= 4, got {width}")
        block, layers = _LAYERS[depth]
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False), norm_layer(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1))
        stages, inplanes = [], width
        for i, blocks in enumerate(layers):
            planes = width * 2**i
            stages.append(self._stage(block, inplanes, planes, blocks, 1 if i == 0 else 2, norm_layer))
            inplanes = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        self.out_channels = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(block, inplanes: int, planes: int, blocks: int, stride: int, norm_layer) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                                       norm_layer(planes * block.expansion))
        layers = [block(inplanes, planes, stride, downsample, norm_layer=norm_layer)]
        layers += [block(planes * block.expansion, planes, norm_layer=norm_layer) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, out_channels) pooled features."""
        x = self.stages(self.stem(x))  # (N, C, H/32, W/32)
        return x.mean(dim=(2, 3))
