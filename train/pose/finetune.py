"""End-to-end fine-tuning on the labeled frames: the paper's initialisation experiment and the supervised baseline.

After the regressor has learned on frozen features, detector, encoder and regressor train together on the
same labeled frames: the 3D and 2D losses of the regressor, plus an L1 pull of the detector's box onto
the labeled box (what a supervised detector learns from). Started from the self-supervised weights this is
the paper's "SSL initialisation + fine-tuning"; started from random weights (``init="random"``) it is the
*supervised-from-scratch* baseline: the same network and labeled frames, no self-supervision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from train.models.spatial import crop, pixels_to_crop
from train.models.ssl_model import SSLModel, to_unit
from train.pose.optimisation import descend, step_decay_adam
from train.pose.regressors import PoseRegressor


def box_target(box: np.ndarray, frame_size: tuple[int, int]) -> torch.Tensor:
    """Pixel boxes ``(N, 4)`` at the model's frame size -> ``(N, 4)`` (centre x, y, half-size x, y) in [-1, 1] units."""
    h, w = frame_size
    half = np.array([w / 2, h / 2], np.float32)
    lo, hi = box[:, :2] / half - 1, box[:, 2:] / half - 1
    return torch.as_tensor(np.concatenate([(lo + hi) / 2, (hi - lo) / 2], axis=1), dtype=torch.float32)


def finetune(model: SSLModel, regressor: PoseRegressor, stats: dict[str, torch.Tensor], frames: np.ndarray,
             pose3d: np.ndarray, joints2d: np.ndarray, visible: np.ndarray, box: np.ndarray, steps: int,
             lr: float, regressor_lr: float, batch_size: int, box_weight: float = 1.0, weight2d: float = 1.0,
             detector_lr_scale: float = 10.0, seed: int = 0, on_step: Callable[[int, float], None] | None = None,
             device: torch.device | None = None) -> None:
    """Train ``model``'s detector and encoder with ``regressor`` on labeled frames, in place (both end in eval mode).

    Args:
        frames: (N, H, W, 3) uint8 at the model's frame size; pose3d (N, K, 3) root-relative mm;
            joints2d (N, K, 2) pixels at that size; visible (N, K); box (N, 4) pixels (NaN rows: no box term).
        stats: the regressor's target mean/std (``train.pose.fit.target_stats``), kept fixed.
        device: where the training runs (default: the model's device); the regressor moves there and back.
    """
    torch.manual_seed(seed)
    device = device or next(model.parameters()).device
    model.to(device)
    regressor.to(device)
    gen = torch.Generator().manual_seed(seed)
    on = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    stats = {k: on(v) for k, v in stats.items()}
    y3 = (on(pose3d) - stats["mean3"]) / stats["std3"]
    j2 = on(np.nan_to_num(joints2d))
    vis = on(visible & np.isfinite(joints2d).all(-1))[..., None]
    boxes = box_target(np.nan_to_num(box), model.cfg.frame_size).to(device)
    has_box = on(np.isfinite(box).all(axis=1))[:, None]
    groups = [{"params": model.encoder.parameters(), "lr": lr}, {"params": regressor.parameters(), "lr": regressor_lr}]
    if model.detector is not None:  # its box head starts as one fixed box far from the labels: it must travel
        groups.append({"params": model.detector.parameters(), "lr": lr * detector_lr_scale})
    opt, sched = step_decay_adam(groups, steps)
    model.train()
    regressor.train()
    for step in range(1, steps + 1):
        picked = torch.randint(len(frames), (min(batch_size, len(frames)),), generator=gen)
        rows = picked.to(device)
        x = to_unit(torch.as_tensor(frames[picked.numpy()]).to(device))
        # the box learns from the labeled boxes alone: through the crop, the pose losses would pull it wherever
        # the regressor finds its job easiest
        scale, centre, _ = model.detect(x)
        tv = model.encoder(model._norm(crop(x, scale.detach(), centre.detach(), model.cfg.crop_size)))[0]
        p3, p2 = regressor(tv)
        loss = (p3 - y3[rows]).pow(2).mean()
        # 2D in frame coordinates, in units of the labeled box's half-size, so a moving box does not move the
        # target (in crop coordinates a shrinking box would inflate it); the box itself learns from its own term
        unit = boxes[rows, 2:][:, None].clamp(min=0.05)
        pred2d = centre.detach()[:, None] + scale.detach()[:, None] * (p2 * stats["std2"] + stats["mean2"])
        target2d = pixels_to_crop(j2[rows], torch.ones_like(scale), torch.zeros_like(centre), model.cfg.frame_size)
        v = vis[rows]
        loss = loss + weight2d * (((pred2d - target2d) / unit).pow(2) * v).sum() / (v.sum() * 2).clamp(min=1)
        box_err = (torch.cat([centre, scale], dim=1) - boxes[rows]).abs() * has_box[rows]
        value = descend(opt, sched, loss + box_weight * box_err.sum() / (has_box[rows].sum() * 4).clamp(min=1))
        if on_step is not None:
            on_step(step, value)
    recalibrate_batchnorm(model, frames, batch_size)
    model.eval()
    regressor.cpu().eval()


@torch.no_grad()
def recalibrate_batchnorm(model: SSLModel, frames: np.ndarray, batch_size: int) -> None:
    """Set the BatchNorm running statistics to their plain average over ``frames`` (one pass, train mode).

    After a short fine-tuning the running averages still remember the first steps' weights; evaluation
    would see statistics its weights never produced.
    """
    device = next(model.parameters()).device
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for start in range(0, len(frames), batch_size):
        model.features(to_unit(torch.as_tensor(frames[start:start + batch_size]).to(device)))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
