"""Few-label 3D pose: a regressor trained on frozen self-supervised features (paper §4, S.1).

``fit_pose`` extracts the features of the labeled pool once (the encoder is frozen), keeps a seeded
fraction of its frames, standardises the targets with that subset's mean/std and trains the regressor
with Adam. The result is ``POSE_DIR/regressor.pt``: the regressor, its config, the target statistics
and the recipe (``PoseConfig``), which ``tvstream export --regressor`` bakes into the ONNX graph.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from train.checkpoint import atomic_save
from train.pose.features import LabeledFeatures, extract_features, labeled_frames, load_ssl_model, pose_device
from train.pose.finetune import finetune
from train.pose.optimisation import descend, step_decay_adam
from train.pose.regressors import REGRESSOR_PRESETS, PoseRegressor
from tvstream.errors import CheckpointError

REGRESSOR_FORMAT = "tvstream.regressor/1"


@dataclass(frozen=True)
class PoseConfig:
    """One few-label regressor run; stored in ``regressor.pt``."""

    features: str  # the SSL checkpoint whose frozen encoder gives the features
    data: str  # dataset folder or manifest with labeled videos
    fraction: float = 1.0  # share of the labeled pool's frames used (paper: 1%, 10%, 100%)
    train_split: str | tuple[str, ...] | None = "labeled"  # the few-label pool; None: every labeled video of ``data``
    init: str = "ssl"  # "ssl": the checkpoint's weights; "random": same architecture, seeded random (the floor)
    regressor: str = "mlp"  # a REGRESSOR_PRESETS name
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight2d: float = 1.0  # weight of the 2D (crop coordinates) loss beside the 3D one
    stride: int = 1  # every stride-th labeled frame forms the pool
    seed: int = 0
    # > 0: then train detector, encoder and regressor together on the same frames (train/pose/finetune.py);
    # with init="random" that is the supervised-from-scratch baseline
    finetune_steps: int = 0
    finetune_lr: float = 1e-4  # detector and encoder (the regressor keeps ``lr``)
    finetune_batch: int = 32

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.init not in ("ssl", "random"):
            raise ValueError(f"init must be 'ssl' or 'random', got {self.init!r}")
        if self.regressor not in REGRESSOR_PRESETS:
            raise ValueError(f"regressor must be one of {', '.join(REGRESSOR_PRESETS)}, got {self.regressor!r}")
        if self.finetune_steps < 0:
            raise ValueError(f"finetune_steps must be >= 0, got {self.finetune_steps}")


class LoadedRegressor(NamedTuple):
    """What ``regressor.pt`` holds."""

    model: PoseRegressor
    stats: dict
    config: PoseConfig
    info: dict
    ssl_weights: dict | None  # the fine-tuned detector/encoder (``finetune_steps > 0``), else None


def feature_model(cfg: PoseConfig, ssl_weights: dict | None = None):
    """The SSL model the recipe reads features with: the checkpoint's, seeded random (``init='random'``),
    or the fine-tuned weights a regressor file carries (``ssl_weights``)."""
    model, state = load_ssl_model(cfg.features)
    if cfg.init == "random":
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            model = type(model)(model.cfg).eval()
    if ssl_weights is not None:
        model.load_state_dict(ssl_weights)
    return model, state


def pool_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Seeded sorted indices of ``round(fraction * n)`` (at least one) of ``n`` pool frames."""
    k = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def target_stats(feats: LabeledFeatures) -> dict[str, torch.Tensor]:
    """Mean/std of the 3D and 2D targets (std floored so a constant coordinate does not blow up)."""
    p2 = np.where(feats.visible[..., None], feats.crop2d, np.nan)
    mean2 = np.nan_to_num(np.nanmean(p2, axis=0)) if np.isfinite(p2).any() else np.zeros(p2.shape[1:])
    std2 = np.nan_to_num(np.nanstd(p2, axis=0), nan=1.0) if np.isfinite(p2).any() else np.ones(p2.shape[1:])
    t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    return {"mean3": t(feats.pose3d.mean(0)), "std3": t(np.maximum(feats.pose3d.std(0), 1.0)),
            "mean2": t(mean2), "std2": t(np.maximum(std2, 1e-3))}


def train_regressor(feats: LabeledFeatures, cfg: PoseConfig, on_step: Callable[[int, float], None] | None = None,
                    device: torch.device | None = None) -> tuple[PoseRegressor, dict]:
    """Fit a regressor of preset ``cfg.regressor`` on ``feats`` (on ``device``, default CPU); returns it (eval
    mode, on the CPU) and the target stats."""
    torch.manual_seed(cfg.seed)
    device = device or torch.device("cpu")
    stats = target_stats(feats)
    on = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    x = on(feats.tv)
    y3 = (on(feats.pose3d) - on(stats["mean3"])) / on(stats["std3"])
    y2 = (on(np.nan_to_num(feats.crop2d)) - on(stats["mean2"])) / on(stats["std2"])
    vis = on(feats.visible & np.isfinite(feats.crop2d).all(-1))[..., None]
    model = PoseRegressor(replace(REGRESSOR_PRESETS[cfg.regressor], in_dim=x.shape[1])).to(device)
    torch.set_flush_denormal(True)  # as the SSL loop: denormal Adam moments are ~100x slower on x86 CPUs
    opt, sched = step_decay_adam(model.parameters(), cfg.steps, cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for step in range(1, cfg.steps + 1):
        rows = torch.randint(len(x), (min(cfg.batch_size, len(x)),), generator=gen).to(device)
        p3, p2 = model(x[rows])
        loss3 = (p3 - y3[rows]).pow(2).mean()
        loss2 = ((p2 - y2[rows]).pow(2) * vis[rows]).sum() / (vis[rows].sum() * 2).clamp(min=1)
        value = descend(opt, sched, loss3 + cfg.weight2d * loss2)
        if on_step is not None:
            on_step(step, value)
    return model.cpu().eval(), stats


@torch.no_grad()
def predict(model: PoseRegressor, stats: dict, tv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, D) -> root-relative 3D joints (N, K, 3) mm and crop-coordinate 2D joints (N, K, 2)."""
    p3, p2 = model(torch.as_tensor(tv, dtype=torch.float32))
    return (p3 * stats["std3"] + stats["mean3"]).numpy(), (p2 * stats["std2"] + stats["mean2"]).numpy()


def save_regressor(path: Path, model: PoseRegressor, stats: dict, cfg: PoseConfig, info: dict,
                   ssl_weights: dict | None = None) -> Path:
    """Atomic ``torch.save`` of everything ``export --regressor`` and ``evaluate`` need.

    ``ssl_weights``: the fine-tuned SSL model's state (it replaces the checkpoint's when features are read).
    """
    state = {"format": REGRESSOR_FORMAT, "config": asdict(model.cfg), "model": model.state_dict(),
             "stats": stats, "trained": True, "pose_config": asdict(cfg), "info": info, "ssl_model": ssl_weights}
    return atomic_save(state, path)


def load_regressor(path: str | os.PathLike) -> LoadedRegressor:
    """``regressor.pt`` (or its folder) -> regressor in eval mode, target stats, recipe, info, fine-tuned weights."""
    from train.pose.regressors import RegressorConfig

    path = Path(path)
    path = path / "regressor.pt" if path.is_dir() else path
    if not path.is_file():
        raise CheckpointError(f"{path}: no such regressor (train one with `tvstream train pose`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable regressor ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != REGRESSOR_FORMAT:
        raise CheckpointError(f"{path}: not a tvstream regressor (expected format {REGRESSOR_FORMAT!r})")
    model = PoseRegressor(RegressorConfig(**state["config"]))
    model.load_state_dict(state["model"])
    return LoadedRegressor(model.eval(), state["stats"], PoseConfig(**state["pose_config"]), state.get("info", {}),
                           state.get("ssl_model"))


def fit_pose(cfg: PoseConfig, out_dir: str | os.PathLike, progress: Callable[[str, int, int], None] | None = None,
             cache_dir: str | os.PathLike | None = None, device: str | torch.device | None = None) -> Path:
    """Extract features of the labeled pool, train the regressor, write ``out_dir/regressor.pt``.

    ``cache_dir``: frame caches (default ``out_dir/cache``); runs on the same data may share one.
    ``device``: where the features, the regressor and the fine-tuning run (default: the GPU when there is one).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    device = pose_device(device)
    model, state = feature_model(cfg)
    model.to(device)
    ds = labeled_frames(cfg.data, model.cfg, cfg.train_split, cfg.stride, cache_dir=cache_dir or out_dir / "cache")
    report = None if progress is None else (lambda done, total: progress("features", done, total))
    pool = extract_features(model, ds, progress=report)
    with3d = np.flatnonzero(np.isfinite(pool.pose3d).all(axis=(1, 2)))  # 2D-only hand labels: weak-2D term only
    if len(with3d) == 0:
        raise CheckpointError(f"{cfg.data}: none of the {len(pool)} labeled frames of split {cfg.train_split!r} "
                              "has 3D joints; the regressor needs some (2D-only frames feed `train ssl`'s weak-2D "
                              "term)")
    rows = with3d[pool_subset(len(with3d), cfg.fraction, cfg.seed)]
    feats = pool.take(rows)
    fit_report = None if progress is None else (lambda step, loss: progress("regressor", step, cfg.steps))
    regressor, stats = train_regressor(feats, cfg, fit_report, device)
    ssl_weights = None
    if cfg.finetune_steps:
        items = [ds[int(i)] for i in rows]  # each item read once
        frames = np.concatenate([it["frames"] for it in items])
        joints2d = np.concatenate([it["joints2d"] for it in items])
        tune_report = None if progress is None else (lambda step, loss: progress("fine-tune", step,
                                                                                  cfg.finetune_steps))
        finetune(model, regressor, stats, frames, feats.pose3d, joints2d, feats.visible, feats.box,
                 cfg.finetune_steps, cfg.finetune_lr, cfg.lr, cfg.finetune_batch, weight2d=cfg.weight2d,
                 seed=cfg.seed, on_step=tune_report, device=device)
        ssl_weights = {k: v.cpu() for k, v in model.state_dict().items()}
    info = {"pool_frames": len(pool), "frames": len(feats), "frames_2d_only": len(pool) - len(with3d),
            "subjects": sorted(set(feats.subject.tolist())), "ssl_step": int(state["step"]),
            "ssl_variant": state["config"].get("variant"), "minutes": round((time.perf_counter() - tic) / 60, 2)}
    path = save_regressor(out_dir / "regressor.pt", regressor, stats, cfg, info, ssl_weights)
    (out_dir / "pose_config.json").write_text(json.dumps({"config": asdict(cfg), "info": info}, indent=1) + "\n")
    return path
