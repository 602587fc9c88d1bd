"""Pose regressors on frozen features (paper §4, S.1): an MLP and an MLP-ResNet, each with a 3D and a 2D head.

Both read the encoder's pose feature (``tv``; all of the latent for variants without the split) and
predict normalised targets: the caller standardises root-relative 3D joints (mm) and crop-coordinate 2D
joints with the training set's mean/std and undoes it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class RegressorConfig:
    """Which regressor and how wide (paper: MLP 2 x 2048 with dropout 0.5; MLP-ResNet 1024 wide, 3 blocks)."""

    kind: str = "mlp"  # "mlp" or "mlp_resnet"
    in_dim: int = 600
    joints: int = 17
    hidden: int = 2048
    layers: int = 2  # hidden layers of the MLP, residual blocks of the MLP-ResNet
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "mlp_resnet"):
            raise ValueError(f"kind must be 'mlp' or 'mlp_resnet', got {self.kind!r}")
        if min(self.in_dim, self.joints, self.hidden, self.layers) < 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"bad regressor sizes: {self}")


class _ResidualBlock(nn.Module):
    """Two linear layers with ReLU and dropout, added back to the input."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(width, width), nn.ReLU(inplace=True), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PoseRegressor(nn.Module):
    """features (N, in_dim) -> ``pose3d (N, K, 3)`` and ``pose2d (N, K, 2)``, both in normalised units."""

    def __init__(self, cfg: RegressorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.kind == "mlp":
            layers: list[nn.Module] = []
            width = cfg.in_dim
            for _ in range(cfg.layers):
                layers += [nn.Linear(width, cfg.hidden), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)]
                width = cfg.hidden
            self.trunk = nn.Sequential(*layers)
        else:
            self.trunk = nn.Sequential(nn.Linear(cfg.in_dim, cfg.hidden),
                                       *[_ResidualBlock(cfg.hidden, cfg.dropout) for _ in range(cfg.layers)])
        self.head3d = nn.Linear(cfg.hidden, 3 * cfg.joints)
        self.head2d = nn.Linear(cfg.hidden, 2 * cfg.joints)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not torch.jit.is_tracing() and (features.dim() != 2 or features.shape[1] != self.cfg.in_dim):
            raise ValueError(f"features must be (N, {self.cfg.in_dim}), got {tuple(features.shape)}")
        h = self.trunk(features)  # (N, hidden)
        n, k = features.shape[0], self.cfg.joints
        return self.head3d(h).view(n, k, 3), self.head2d(h).view(n, k, 2)


REGRESSOR_PRESETS = {
    "mlp": RegressorConfig(kind="mlp", hidden=2048, layers=2),
    "mlp_resnet": RegressorConfig(kind="mlp_resnet", hidden=1024, layers=3),
    "mlp_small": RegressorConfig(kind="mlp", hidden=512, layers=2, dropout=0.25),  # embedded models (size, ms)
}
