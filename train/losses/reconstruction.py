"""Reconstruction loss (paper eq. 2): pixel L2 plus a perceptual L2 on frozen ResNet18 features.

The perceptual network cannot download ImageNet weights here (no internet on training boxes): it loads a
torchvision ResNet18 state dict from a local file when given one, else a fixed-seed random init, whose
conv features still measure image structure. ``PerceptualNet.weights_source`` says which, so the caller
can log it and store it in the checkpoint's config.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from tvstream.errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_VAR_EPS = 1e-8  # inside the sqrt, so a constant prediction still has a finite std gradient


class PerceptualNet(nn.Module):
    """Frozen ResNet18 stem, layer1 and layer2: the three feature stages compared by the perceptual loss.

    Args:
        weights_path: a torchvision ``resnet18`` state dict (``.pth``); None uses a random init.
        seed: seed of the random init; the global RNG is left as it was.
    """

    def __init__(self, weights_path: str | Path | None = None, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # fixed-seed init without touching the caller's RNG
            torch.manual_seed(seed)
            resnet = torchvision.models.resnet18(weights=None)
        if weights_path is None:
            self.weights_source = f"random(seed={seed})"
        else:
            self.weights_source = str(weights_path)
            try:
                state = torch.load(weights_path, map_location="cpu", weights_only=True)
                resnet.load_state_dict(state)  # strict: a wrong file fails here, not as odd features later
            except (OSError, RuntimeError, KeyError, TypeError) as err:
                raise CheckpointError(f"cannot load ResNet18 weights from {weights_path}: {err}") from err
        # The paper's "layers 1 to 3": conv1 (after bn+relu), layer1 (after the max-pool) and layer2,
        # as in the authors' NSD code.
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.layer1 = nn.Sequential(resnet.maxpool, resnet.layer1)
        self.layer2 = resnet.layer2
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualNet:
        """Stay in eval mode: batch-norm running stats must not drift when the parent model trains."""
        return super().train(False)

    def forward(self, images: Tensor) -> list[Tensor]:
        """images (B, 3, H, W) in [0, 1] -> features (B, 64, H/2, W/2), (B, 64, H/4, W/4), (B, 128, H/8, W/8)."""
        x = (images - self.mean) / self.std
        f0 = self.stem(x)
        f1 = self.layer1(f0)
        f2 = self.layer2(f1)
        return [f0, f1, f2]


def _check_images(pred: Tensor, target: Tensor) -> None:
    if pred.dim() != 4 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must share one (B, C, H, W) shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def pixel_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """pred, target (B, C, H, W); mask (B, 1 or C, H, W) or None -> mean squared error over the (masked) pixels.

    An all-zero mask gives 0 (with a gradient path), not NaN.
    """
    _check_images(pred, target)
    sq = (pred - target) ** 2
    if mask is None:
        return sq.mean()
    batch, _, height, width = pred.shape
    if tuple(mask.shape) not in ((batch, 1, height, width), tuple(pred.shape)):
        raise ValueError(f"mask must be (B, 1 or C, H, W) matching {tuple(pred.shape)}, got {tuple(mask.shape)}")
    weight = mask.to(sq.dtype).expand_as(sq)  # (B, 1, H, W) -> (B, C, H, W)
    return (weight * sq).sum() / weight.sum().clamp_min(1.0)


def _match_moments(pred: Tensor, target: Tensor) -> Tensor:
    """Rescale each prediction to its target's per-sample mean and std over (C, H, W) (DESIGN §2, after NSD)."""
    p_mean = pred.mean(dim=(1, 2, 3), keepdim=True)
    p_std = torch.sqrt(pred.var(dim=(1, 2, 3), keepdim=True, correction=0) + _VAR_EPS)
    t_mean = target.mean(dim=(1, 2, 3), keepdim=True)
    t_std = torch.sqrt(target.var(dim=(1, 2, 3), keepdim=True, correction=0) + _VAR_EPS)
    return (pred - p_mean) / p_std * t_std + t_mean


def perceptual_loss(net: PerceptualNet, pred: Tensor, target: Tensor) -> Tensor:
    """pred, target (B, 3, H, W) in [0, 1] -> sum over the three stages of the feature mean squared error.

    The prediction is first rescaled to the target's per-sample mean/std, so this term scores structure
    and leaves brightness and contrast to the pixel term.
    """
    _check_images(pred, target)
    if pred.shape[1] != 3:
        raise ValueError(f"perceptual_loss needs RGB images (B, 3, H, W), got {tuple(pred.shape)}")
    pred_feats = net(_match_moments(pred, target))
    target_feats = net(target)
    return sum((F.mse_loss(p, t) for p, t in zip(pred_feats, target_feats)), pred.new_zeros(()))


def reconstruction_loss(
    net: PerceptualNet | None,
    pred: Tensor,
    target: Tensor,
    pixel_weight: float = 2.0,
    perceptual_weight: float = 2.0,
    mask: Tensor | None = None,
) -> Tensor:
    """pred, target (B, 3, H, W) in [0, 1] -> λ·pixel + ρ·perceptual (paper eq. 2; λ = ρ = 2, Ski λ = 0.05).

    ``net=None`` drops the perceptual term; ``mask`` applies to the pixel term only.
    """
    loss = pixel_weight * pixel_loss(pred, target, mask)
    if net is not None and perceptual_weight != 0.0:
        loss = loss + perceptual_weight * perceptual_loss(net, pred, target)
    return loss
