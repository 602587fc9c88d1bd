"""How good a few-label pose model is on held-out video: MPJPE, N-MPJPE, P-MPJPE, per joint and per action."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from train.metrics.pose import mpjpe, n_mpjpe, p_mpjpe, per_group, per_joint
from train.pose.features import extract_features, labeled_frames, pose_device
from train.pose.fit import feature_model, load_regressor, predict
from train.ssl.box_eval import box_iou
from tvstream.skeleton import JOINT_NAMES


def pose_metrics(pred3d: np.ndarray, true3d: np.ndarray, actions: np.ndarray) -> dict:
    """The table's numbers for predictions ``(N, K, 3)`` mm against root-relative truth."""
    n_err = n_mpjpe(pred3d, true3d)
    return {"frames": int(len(pred3d)), "mpjpe": float(mpjpe(pred3d, true3d).mean()),
            "n_mpjpe": float(n_err.mean()), "p_mpjpe": float(p_mpjpe(pred3d, true3d).mean()),
            "per_joint": dict(zip(JOINT_NAMES, np.round(per_joint(pred3d, true3d), 2).tolist())),
            "per_action_n_mpjpe": per_group(n_err, actions)}


def evaluate_pose(pose_dir: str | os.PathLike, split: str = "test", data: str | None = None,
                  stride: int = 1, cache_dir: str | os.PathLike | None = None,
                  device: str | torch.device | None = None) -> dict:
    """Metrics of ``pose_dir``'s regressor (on its frozen features) on the labeled ``split`` videos.

    Writes ``pose_dir/eval_<split>.json`` and returns the same dict. ``device``: where the features are read
    (default: the GPU when there is one).
    """
    pose_dir = Path(pose_dir)
    regressor, stats, cfg, info, ssl_weights = load_regressor(pose_dir)
    model, _ = feature_model(cfg, ssl_weights)
    ds = labeled_frames(data or cfg.data, model.cfg, split, stride, cache_dir=cache_dir or pose_dir / "cache")
    feats = extract_features(model.to(pose_device(device)), ds)
    feats = feats.take(np.isfinite(feats.pose3d).all(axis=(1, 2)))  # frames with 3D truth only
    pred3d, _ = predict(regressor, stats, feats.tv)
    h, w = model.cfg.frame_size
    half = np.array([w / 2, h / 2])
    pred_box = np.concatenate([(feats.centre - feats.scale + 1) * half, (feats.centre + feats.scale + 1) * half], 1)
    keep = np.isfinite(feats.box).all(axis=1)
    mean_pose = np.broadcast_to(stats["mean3"].numpy(), pred3d.shape).copy()
    result = {"split": split, "subjects": sorted(set(feats.subject.tolist())), "train": info,
              "recipe": {"fraction": cfg.fraction, "init": cfg.init, "regressor": cfg.regressor,
                         "finetune_steps": cfg.finetune_steps},
              **pose_metrics(pred3d, feats.pose3d, feats.action),
              "box_iou": float(box_iou(pred_box[keep], feats.box[keep]).mean()) if keep.any() else None,
              # the floor any feature must beat: the labeled frames' mean pose predicted for every frame
              **{f"mean_pose_{name}": float(metric(mean_pose, feats.pose3d).mean())
                 for name, metric in (("mpjpe", mpjpe), ("n_mpjpe", n_mpjpe), ("p_mpjpe", p_mpjpe))}}
    out = pose_dir / f"eval_{split}.json"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out)
    return result
