"""How well the learned detector finds the athlete: IoU of its box with the labeled box on held-out video."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import load_checkpoint
from train.data import SamplingConfig, VideoDataset
from train.models.config import ModelConfig
from train.models.ssl_model import SSLModel, to_unit


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a, b (N, 4) boxes ``[x0, y0, x1, y1]`` -> (N,) intersection over union (0 where both are empty)."""
    if a.shape != b.shape or a.shape[-1] != 4:
        raise ValueError(f"boxes must both be (N, 4), got {a.shape} and {b.shape}")
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def boxes_in_pixels(scale: torch.Tensor, centre: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Normalised ``scale``, ``centre`` (N, 2) -> pixel boxes (N, 4) in a frame of ``size = (H, W)``."""
    h, w = size
    scale, centre = scale.detach().float().cpu(), centre.detach().float().cpu()  # a CUDA/AMP model's outputs too
    half = torch.tensor([w / 2, h / 2])
    lo = (centre - scale + 1) * half
    hi = (centre + scale + 1) * half
    return torch.cat([lo, hi], dim=1).numpy()


def box_eval_dataset(data: str | os.PathLike, mcfg: ModelConfig, split: str | None = "test",
                     stride: int = 5) -> VideoDataset:
    """Every ``stride``-th frame of the ``split`` videos with their labels, at the model's frame size."""
    return VideoDataset(Path(data), size=mcfg.frame_size, sampling=SamplingConfig(mode="frame", stride=stride),
                        split=split)


def evaluate_boxes(checkpoint: str | os.PathLike, data: str | os.PathLike, split: str | None = "test",
                   stride: int = 5) -> dict[str, float]:
    """Mean IoU of a checkpoint's detector box with the labeled box on the ``split`` videos."""
    state = load_checkpoint(checkpoint)
    mcfg = ModelConfig.from_dict(state["extra"]["model_config"])
    model = SSLModel(mcfg)
    model.load_state_dict(state["model"])
    return {"step": int(state["step"]), **box_iou_of_model(model, box_eval_dataset(data, mcfg, split, stride))}


@torch.no_grad()
def box_iou_of_model(model: SSLModel, ds: VideoDataset, batch: int = 32) -> dict[str, float]:
    """Mean IoU and the fraction of frames with IoU >= 0.5, over the labeled frames of ``ds``."""
    was_training = model.training
    model.eval()
    mcfg = model.cfg
    device = next(model.parameters()).device
    ious = []
    for start in range(0, len(ds), batch):
        items = [ds[i] for i in range(start, min(start + batch, len(ds)))]
        frames = torch.as_tensor(np.concatenate([it["frames"] for it in items]))  # (N, H, W, 3)
        truth = np.concatenate([it["box"] for it in items])  # (N, 4)
        scale, centre, _ = model.detect(to_unit(frames.to(device)))
        pred = boxes_in_pixels(scale, centre, mcfg.frame_size)
        keep = np.isfinite(truth).all(axis=1)
        ious.append(box_iou(pred[keep], truth[keep]))
    model.train(was_training)
    iou = np.concatenate(ious)
    return {"mean_iou": float(iou.mean()), "frac_iou_0.5": float((iou >= 0.5).mean()), "frames": int(len(iou))}
