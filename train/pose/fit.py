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

import numpy as np
import torch

from train.checkpoint import atomic_save
from train.pose.features import LabeledFeatures, extract_features, labeled_frames, load_ssl_model
from train.pose.regressors import REGRESSOR_PRESETS, PoseRegressor
from tvstream.errors import CheckpointError

REGRESSOR_FORMAT = "tvstream.regressor/1"


@dataclass(frozen=True)
class PoseConfig:
    """One few-label regressor run; stored in ``regressor.pt``."""

    features: str  # the SSL checkpoint whose frozen encoder gives the features
    data: str  # dataset folder or manifest with labeled videos
    fraction: float = 1.0  # share of the labeled pool's frames used (paper: 1%, 10%, 100%)
    train_split: str = "labeled"  # the few-label pool
    init: str = "ssl"  # "ssl": the checkpoint's weights; "random": same architecture, seeded random (the floor)
    regressor: str = "mlp"  # a REGRESSOR_PRESETS name
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight2d: float = 1.0  # weight of the 2D (crop coordinates) loss beside the 3D one
    stride: int = 1  # every stride-th labeled frame forms the pool
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.init not in ("ssl", "random"):
            raise ValueError(f"init must be 'ssl' or 'random', got {self.init!r}")
        if self.regressor not in REGRESSOR_PRESETS:
            raise ValueError(f"regressor must be one of {', '.join(REGRESSOR_PRESETS)}, got {self.regressor!r}")


def feature_model(cfg: PoseConfig):
    """The frozen SSL model the recipe reads features with (seeded random weights for ``init='random'``)."""
    model, state = load_ssl_model(cfg.features)
    if cfg.init == "random":
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)
            model = type(model)(model.cfg).eval()
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


def train_regressor(feats: LabeledFeatures, cfg: PoseConfig,
                    on_step: Callable[[int, float], None] | None = None) -> tuple[PoseRegressor, dict]:
    """Fit a regressor of preset ``cfg.regressor`` on ``feats``; returns it (eval mode) and the target stats."""
    torch.manual_seed(cfg.seed)
    stats = target_stats(feats)
    x = torch.as_tensor(feats.tv, dtype=torch.float32)
    y3 = (torch.as_tensor(feats.pose3d, dtype=torch.float32) - stats["mean3"]) / stats["std3"]
    y2 = (torch.as_tensor(np.nan_to_num(feats.crop2d), dtype=torch.float32) - stats["mean2"]) / stats["std2"]
    vis = torch.as_tensor(feats.visible & np.isfinite(feats.crop2d).all(-1), dtype=torch.float32)[..., None]
    model = PoseRegressor(replace(REGRESSOR_PRESETS[cfg.regressor], in_dim=x.shape[1]))
    torch.set_flush_denormal(True)  # as the SSL loop: denormal Adam moments are ~100x slower on x86 CPUs
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(cfg.steps * 0.75)], gamma=0.1)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for step in range(1, cfg.steps + 1):
        rows = torch.randint(len(x), (min(cfg.batch_size, len(x)),), generator=gen)
        p3, p2 = model(x[rows])
        loss3 = (p3 - y3[rows]).pow(2).mean()
        loss2 = ((p2 - y2[rows]).pow(2) * vis[rows]).sum() / (vis[rows].sum() * 2).clamp(min=1)
        loss = loss3 + cfg.weight2d * loss2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if on_step is not None:
            on_step(step, loss.item())
    return model.eval(), stats


@torch.no_grad()
def predict(model: PoseRegressor, stats: dict, tv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, D) -> root-relative 3D joints (N, K, 3) mm and crop-coordinate 2D joints (N, K, 2)."""
    p3, p2 = model(torch.as_tensor(tv, dtype=torch.float32))
    return (p3 * stats["std3"] + stats["mean3"]).numpy(), (p2 * stats["std2"] + stats["mean2"]).numpy()


def save_regressor(path: Path, model: PoseRegressor, stats: dict, cfg: PoseConfig, info: dict) -> Path:
    """Atomic ``torch.save`` of everything ``export --regressor`` and ``evaluate`` need."""
    state = {"format": REGRESSOR_FORMAT, "config": asdict(model.cfg), "model": model.state_dict(),
             "stats": stats, "trained": True, "pose_config": asdict(cfg), "info": info}
    return atomic_save(state, path)


def load_regressor(path: str | os.PathLike) -> tuple[PoseRegressor, dict, PoseConfig, dict]:
    """``regressor.pt`` (or its folder) -> (regressor in eval mode, target stats, recipe, info)."""
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
    return model.eval(), state["stats"], PoseConfig(**state["pose_config"]), state.get("info", {})


def fit_pose(cfg: PoseConfig, out_dir: str | os.PathLike, progress: Callable[[str, int, int], None] | None = None,
             cache_dir: str | os.PathLike | None = None) -> Path:
    """Extract features of the labeled pool, train the regressor, write ``out_dir/regressor.pt``.

    ``cache_dir``: frame caches (default ``out_dir/cache``); runs on the same data may share one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    model, state = feature_model(cfg)
    ds = labeled_frames(cfg.data, model.cfg, cfg.train_split, cfg.stride, cache_dir=cache_dir or out_dir / "cache")
    report = None if progress is None else (lambda done, total: progress("features", done, total))
    pool = extract_features(model, ds, progress=report)
    feats = pool.take(pool_subset(len(pool), cfg.fraction, cfg.seed))
    fit_report = None if progress is None else (lambda step, loss: progress("regressor", step, cfg.steps))
    regressor, stats = train_regressor(feats, cfg, fit_report)
    info = {"pool_frames": len(pool), "frames": len(feats), "subjects": sorted(set(feats.subject.tolist())),
            "ssl_step": int(state["step"]), "ssl_variant": state["config"].get("variant"),
            "minutes": round((time.perf_counter() - tic) / 60, 2)}
    path = save_regressor(out_dir / "regressor.pt", regressor, stats, cfg, info)
    (out_dir / "pose_config.json").write_text(json.dumps({"config": asdict(cfg), "info": info}, indent=1) + "\n")
    return path
