"""Frozen features of labeled frames: what the few-label regressor learns from and is evaluated on.

A self-supervised checkpoint's detector finds the athlete, its encoder reads the crop, and the pose
feature (``tv``, or the whole latent for variants without the split) is stored with the frame's labels
in the regressor's target units: root-relative 3D joints in camera millimetres and 2D joints in *crop
coordinates* (the detector's crop spans [-1, 1]; the exported graph maps them back to pixels).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import load_checkpoint
from train.data import SamplingConfig, VideoDataset
from train.models.config import ModelConfig
from train.models.spatial import pixels_to_crop
from train.models.ssl_model import SSLModel, to_unit

_SYNTH_SEQUENCE = re.compile(r"^[^_]+_\d+_(.+)$")  # S03_01_arm_swings -> arm_swings


@dataclass(frozen=True)
class LabeledFeatures:
    """Per labeled frame: the feature, the detector's box and the targets (numpy, N rows)."""

    tv: np.ndarray  # (N, D) float32 pose feature
    scale: np.ndarray  # (N, 2) the detector's box half-size, normalised frame units
    centre: np.ndarray  # (N, 2) its centre
    pose3d: np.ndarray  # (N, K, 3) root-relative joints, camera mm
    crop2d: np.ndarray  # (N, K, 2) 2D joints in crop coordinates (NaN where unknown)
    visible: np.ndarray  # (N, K) bool
    box: np.ndarray  # (N, 4) labeled box in pixels of the model's frame size
    subject: np.ndarray  # (N,) str
    action: np.ndarray  # (N,) str (the motion; the sequence name for non-synthetic data)

    def __len__(self) -> int:
        return len(self.tv)

    def take(self, rows: np.ndarray) -> LabeledFeatures:
        """The subset ``rows`` (indices or a mask)."""
        return LabeledFeatures(**{k: v[rows] for k, v in self.__dict__.items()})


def action_of(sequence: str) -> str:
    """The action of a sequence name: the motion of synthetic sequences, else the name itself."""
    match = _SYNTH_SEQUENCE.match(sequence)
    return match.group(1) if match else sequence


def load_ssl_model(checkpoint: str | os.PathLike) -> tuple[SSLModel, dict]:
    """An SSL checkpoint's model in eval mode, and the checkpoint state (config, step)."""
    state = load_checkpoint(checkpoint)
    model = SSLModel(ModelConfig.from_dict(state["extra"]["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


def pose_device(device: str | torch.device | None = None) -> torch.device:
    """Where pose fitting and evaluation run: ``device``, else the GPU when there is one, else the CPU."""
    return torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")


def labeled_frames(data: str | os.PathLike, mcfg: ModelConfig, split: str | tuple[str, ...],
                   stride: int = 1, cache_dir: str | os.PathLike | None = None) -> VideoDataset:
    """Every ``stride``-th labeled frame of the ``split`` videos at the model's frame size, with labels."""
    return VideoDataset(Path(data), size=mcfg.frame_size, sampling=SamplingConfig(mode="frame", stride=stride),
                        split=split, labeled_only=True, cache_dir=cache_dir)


@torch.no_grad()
def extract_features(model: SSLModel, ds: VideoDataset, batch: int = 64,
                     progress: Callable[[int, int], None] | None = None) -> LabeledFeatures:
    """Run ``model`` on every item of ``ds`` (frame mode, labeled) and collect features with targets.

    The frames go to the model's device; the features come back as numpy.
    """
    mcfg = model.cfg
    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {k: [] for k in LabeledFeatures.__dataclass_fields__}
    for start in range(0, len(ds), batch):
        items = [ds[i] for i in range(start, min(start + batch, len(ds)))]
        frames = torch.as_tensor(np.concatenate([it["frames"] for it in items]))  # (n, H, W, 3) uint8
        tv, scale, centre, _ = model.features(to_unit(frames.to(device)))
        tv, scale, centre = tv.cpu(), scale.cpu().numpy(), centre.cpu().numpy()
        joints3d = np.concatenate([it["joints3d"] for it in items])  # (n, K, 3)
        joints2d = np.concatenate([it["joints2d"] for it in items])
        videos = np.concatenate([it["video"] for it in items])
        parts["tv"].append(tv.numpy())
        parts["scale"].append(scale)
        parts["centre"].append(centre)
        parts["pose3d"].append(joints3d - joints3d[:, :1])  # the pelvis (joint 0) is the origin
        crop2d = pixels_to_crop(torch.as_tensor(joints2d), torch.as_tensor(scale), torch.as_tensor(centre),
                                mcfg.frame_size)
        parts["crop2d"].append(crop2d.numpy())
        parts["visible"].append(np.concatenate([it["visible"] for it in items]))
        parts["box"].append(np.concatenate([it["box"] for it in items]))
        parts["subject"].append(np.array([ds.entries[v].subject for v in videos]))
        parts["action"].append(np.array([action_of(ds.entries[v].sequence) for v in videos]))
        if progress is not None:
            progress(min(start + batch, len(ds)), len(ds))
    return LabeledFeatures(**{k: np.concatenate(v) for k, v in parts.items()})
