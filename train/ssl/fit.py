"""The self-supervised training loop: ``fit(cfg)`` sets up, ``train_steps`` runs; both resume exactly.

Batches, the colour jitter and the sampled frames are pure functions of (seed, step), so a run stopped
and resumed from a checkpoint continues bit-exactly on CPU. Stats go to ``metrics.jsonl`` in the run
folder; checkpoints (``last.pt``) are written atomically every ``checkpoint_every`` steps and at the end.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from train.checkpoint import load_checkpoint, save_checkpoint
from train.data import SamplingConfig, VideoDataset
from train.data.loader import worker_context
from train.distributed import DistInfo, cleanup, setup
from train.losses.reconstruction import PerceptualNet
from train.models.config import MODEL_PRESETS, ModelConfig
from train.models.drnet import SceneCritic
from train.models.identity_critic import SubjectCritic
from train.models.ssl_model import SSLModel, to_unit
from train.ssl.box_eval import box_eval_dataset, box_iou_of_model
from train.ssl.config import TrainConfig
from train.ssl.objective import ssl_loss
from train.ssl.reports import plot_curves, reconstruction_grid
from train.ssl.sampler import StepBatchSampler
from train.ssl.variants import VARIANTS
from tvstream.errors import TvstreamError
from tvstream.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

StepCallback = Callable[[int, dict], None]
"""Called as ``on_step(step, stats)`` after every logged step (the CLI's progress bar)."""

# fields a resumed run must share with its checkpoint; steps, workers and logging may change
_RESUME_KEYS = ("variant", "model", "scenario", "batch_size", "lr", "detector_lr_scale", "seed", "near", "far",
                "background", "min_box", "gravity_steps", "gravity_step", "weights")


class TrainingError(TvstreamError, RuntimeError):
    """Training cannot go on (a non-finite loss, an empty dataset)."""


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The network of a run: the size preset with the variant's parts switched on or off."""
    v, base = VARIANTS[cfg.variant], MODEL_PRESETS[cfg.model]
    tv_dim = base.tv_dim - base.tv_dim % 3 if v.rotate else base.tv_dim  # NSD reads tv as 3D points
    return replace(base, use_stn=v.use_stn, use_decoder=v.use_decoder, split=v.split, tv_dim=tv_dim,
                   ti_swap=v.ti_swap, pose2d_joints=NUM_JOINTS if v.weak2d else 0, min_box=cfg.min_box)


def _dataset(cfg: TrainConfig, mcfg: ModelConfig, stage: str, cache_dir: Path) -> VideoDataset:
    if stage == "gravity":
        sampling = SamplingConfig(mode="gravity", gravity_step=cfg.gravity_step)
    elif VARIANTS[cfg.variant].multiview:  # synchronised views of a multi-camera rig
        sampling = SamplingConfig(mode="multiview", views=2, near=cfg.near, far=cfg.far)
    else:
        sampling = SamplingConfig(near=cfg.near, far=cfg.far)
    weak2d, rotate = VARIANTS[cfg.variant].weak2d, VARIANTS[cfg.variant].rotate
    label_splits = cfg.label_splits if weak2d else ()
    if rotate:  # NSD reads the cameras' rotations from every video's label file (the model sees no joints)
        label_splits = None
    return VideoDataset(cfg.data, size=mcfg.frame_size, sampling=sampling, cache_dir=cache_dir, split=cfg.split,
                        seed=cfg.seed, with_labels=weak2d or rotate, label_splits=label_splits,
                        background=cfg.background)


def _subject_count(cfg: TrainConfig, mcfg: ModelConfig) -> int:
    """How many subjects the identity adversary tells apart: those of the videos the run learns from."""
    ds = VideoDataset(cfg.data, size=mcfg.frame_size, sampling=SamplingConfig(mode="frame"), split=cfg.split)
    try:
        if len(ds.subjects) < 2:
            raise TrainingError(f"{cfg.variant}: the identity adversary needs videos of at least 2 subjects in "
                                f"{cfg.data} (split {cfg.split}), found {len(ds.subjects)}")
        return len(ds.subjects)
    finally:
        ds.close()


def _loader(ds: VideoDataset, cfg: TrainConfig, start: int, stop: int, info: DistInfo) -> DataLoader:
    sampler = StepBatchSampler(len(ds), cfg.batch_size, cfg.seed, start, stop, info.rank, info.world_size)
    return DataLoader(ds, batch_sampler=sampler, num_workers=cfg.workers,
                      multiprocessing_context=worker_context() if cfg.workers > 0 else None)


class _BoxEvaluator:
    """Box IoU on the labeled held-out videos, if the dataset has any (built on first use)."""

    def __init__(self, cfg: TrainConfig, model: SSLModel) -> None:
        self.cfg, self.model, self.ds, self.failed = cfg, model, None, not model.cfg.use_stn

    def __call__(self, step: int) -> dict | None:
        if self.failed:
            return None
        if self.ds is None:
            try:
                self.ds = box_eval_dataset(self.cfg.data, self.model.cfg, self.cfg.eval_split, stride=10)
            except TvstreamError as exc:  # no held-out labeled videos: nothing to measure
                log.info("no box evaluation: %s", exc)
                self.failed = True
                return None
        result = box_iou_of_model(self.model, self.ds)
        return {"box_iou": result["mean_iou"], "box_iou_frac_0.5": result["frac_iou_0.5"]}


def _write_pictures(model: SSLModel, output, background: torch.Tensor | None, out: Path, step: int) -> None:
    (out / "images").mkdir(exist_ok=True)
    bg = None
    if background is not None:  # the decoder composes at detector size
        b, s = background.shape[:2]
        bg = F.interpolate(to_unit(background.flatten(0, 1)), size=model.cfg.detector_size, mode="area")
        bg = bg.view(b, s, *bg.shape[1:])
    reconstruction_grid(model, output, bg, out / "images" / f"recon_{step:06d}.png")
    plot_curves(out / "metrics.jsonl", out / "loss_curves.png")


def fit(cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool = False,
        on_step: StepCallback | None = None) -> Path:
    """Train ``cfg`` into ``out_dir`` (``last.pt``, ``metrics.jsonl``, ``config.json``); returns the checkpoint."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    if not resume and ckpt_path.is_file():  # a fresh run would overwrite its checkpoint and mix up its metrics
        raise TrainingError(f"{out} already holds a training run: pass --resume to continue it, or choose "
                            "another --out")
    info = setup()
    # Adam's second moments of tiny gradients turn denormal, and x86 CPUs compute on denormals ~100x slower:
    # flushing them to zero took Adam from 420 to 19 ms and the whole small step down ~18% on the dev box
    torch.set_flush_denormal(True)
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} must split evenly over {info.world_size} processes")
    torch.manual_seed(cfg.seed)  # the initial weights, identical on every rank

    # ---- model, perceptual network, optimiser, AMP scaler (CUDA only)
    mcfg = model_config(cfg)
    # channels-last: frames arrive as NHWC bytes, so convolutions skip a layout change (~8% per step on CPU here)
    model = SSLModel(mcfg).to(info.device, memory_format=torch.channels_last)
    perceptual = None
    if mcfg.use_decoder:
        perceptual = PerceptualNet(cfg.perceptual_weights, seed=cfg.seed)
        perceptual = perceptual.to(info.device, memory_format=torch.channels_last)
    if perceptual is not None:
        log.info("perceptual network: %s", perceptual.weights_source)
    optimizer = torch.optim.Adam(_param_groups(model, cfg), lr=cfg.lr, fused=True)  # one kernel for all tensors
    scaler = torch.amp.GradScaler("cuda", enabled=info.device.type == "cuda")
    critic = None  # DrNet's scene discriminator or the identity adversary: its own network and optimiser
    if VARIANTS[cfg.variant].adversarial:
        critic = SceneCritic(mcfg.tv_dim, cfg.lr, info.device, distributed=info.distributed)
    elif VARIANTS[cfg.variant].identity:
        critic = SubjectCritic(mcfg.tv_dim, _subject_count(cfg, mcfg), cfg.lr, info.device,
                               distributed=info.distributed)

    # ---- resume
    start = 0
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, expect=cfg.to_dict(), keys=_RESUME_KEYS,
                                upgrade=lambda stored: TrainConfig.from_dict(stored).to_dict())
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        if critic is not None:
            critic.load_state_dict(state["extra"]["critic"])
        start = state["step"]
        log.info("resumed %s at step %d", ckpt_path, start)
    if info.is_main:
        _trim_metrics(out / "metrics.jsonl", start)
        (out / "config.json").write_text(json.dumps({**cfg.to_dict(), "model_config": mcfg.to_dict(),
                                                     "perceptual": perceptual.weights_source if perceptual else None,
                                                     "world_size": info.world_size}, indent=1) + "\n")
    try:
        network = torch.nn.parallel.DistributedDataParallel(model) if info.distributed else model
        train_steps(cfg, _Runtime(model, network, perceptual, optimizer, scaler, info, critic), out, start, on_step)
    finally:
        cleanup(info)
    return ckpt_path


def _device_name(device: torch.device) -> str:
    """What trained the run, for model cards: the GPU's name, or "cpu"."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _trim_metrics(path: Path, start: int) -> None:
    """Drop the lines an earlier, interrupted run logged after step ``start`` (all of them for a fresh start)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines(keepends=True)
            if line.strip() and json.loads(line)["step"] <= start]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept))
    tmp.replace(path)


def _param_groups(model: SSLModel, cfg: TrainConfig) -> list[dict]:
    """Adam's parameter groups: the detector at ``lr * detector_lr_scale``, everything else at ``lr``."""
    if model.detector is None or cfg.detector_lr_scale == 1.0:
        return [{"params": list(model.parameters())}]
    detector = list(model.detector.parameters())
    ids = {id(p) for p in detector}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": detector, "lr": cfg.lr * cfg.detector_lr_scale}]


@dataclass
class _Runtime:
    """What the loop trains with, and where."""

    model: SSLModel
    network: torch.nn.Module  # the model, or its DDP wrapper (gradient averaging) with several processes
    perceptual: PerceptualNet | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    info: DistInfo
    critic: SceneCritic | SubjectCritic | None = None  # DrNet's or the identity adversary, stepped after the model


def train_steps(cfg: TrainConfig, rt: _Runtime, out: Path, start: int, on_step: StepCallback | None) -> None:
    """Run steps ``start .. cfg.steps - 1``: stage 1 (gravity) for the first ``gravity_steps``, then temporal."""
    model, perceptual, optimizer, info = rt.model, rt.perceptual, rt.optimizer, rt.info
    variant = VARIANTS[cfg.variant]
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else out / "cache"
    switch = min(cfg.gravity_steps, cfg.steps) if variant.gravity else 0
    stages = [("gravity", 0, switch), ("temporal", switch, cfg.steps)]  # (stage, first step, end)
    model.train()
    cuda = info.device.type == "cuda"
    with open(out / "metrics.jsonl", "a") if info.is_main else open(os.devnull, "w") as metrics:
        for stage, first, last in stages:
            lo = max(start, first)
            if lo >= last:
                continue
            ds = _dataset(cfg, model.cfg, stage, cache_dir)
            evaluator = _BoxEvaluator(cfg, model) if cfg.eval_every and info.is_main else None
            tic = time.perf_counter()
            for step, batch in zip(range(lo, last), _loader(ds, cfg, lo, last, info)):
                batch = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()}
                generator = torch.Generator().manual_seed((cfg.seed * 1_000_003 + step) * 1009 + info.rank)
                rotation = _rotations(batch, step) if variant.rotate else None
                with torch.autocast(device_type=info.device.type, dtype=torch.float16 if cuda else torch.bfloat16,
                                    enabled=cuda or cfg.cpu_amp):
                    output = rt.network(batch["frames"], batch.get("background"), generator, rotation)
                    visible = batch["visible"] & batch["labeled"][..., None] if "visible" in batch else None
                    loss, terms = ssl_loss(output, batch["distance"], variant, cfg.weights, perceptual,
                                           float(cfg.far), stage, model.cfg.perceptual_size, batch.get("joints2d"),
                                           visible, model.cfg.frame_size,
                                           rt.critic.judge if variant.adversarial else None,
                                           rt.critic.judge if variant.identity else None)
                if not math.isfinite(loss.item()):
                    raise TrainingError(f"non-finite loss at step {step}: {terms}")
                optimizer.zero_grad(set_to_none=True)
                rt.scaler.scale(loss).backward()
                rt.scaler.step(optimizer)
                rt.scaler.update()
                if rt.critic is not None:  # the critic learns from this step's (detached) pose vectors
                    terms.update(rt.critic.step(output.tv, batch["subject" if variant.identity else "video"]))
                done = step + 1
                if info.is_main and (done % cfg.log_every == 0 or done == last):
                    stats = {"step": done, "stage": stage, "loss": loss.item(), **terms,
                             "box_scale": output.scale.mean().item(),
                             "s_per_step": (time.perf_counter() - tic) / cfg.log_every}
                    metrics.write(json.dumps(stats) + "\n")
                    metrics.flush()
                    tic = time.perf_counter()
                    if on_step is not None:
                        on_step(done, stats)
                if evaluator is not None and (done % cfg.eval_every == 0 or done == cfg.steps):
                    result = evaluator(done)
                    if result is not None:
                        metrics.write(json.dumps({"step": done, "stage": "eval", **result}) + "\n")
                        metrics.flush()
                if info.is_main and cfg.image_every and (done % cfg.image_every == 0 or done == cfg.steps):
                    _write_pictures(model, output, batch.get("background"), out, done)
                if info.is_main and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
                    extra = {"model_config": model.cfg.to_dict(), "world_size": info.world_size,
                             "device": _device_name(info.device)}
                    if rt.critic is not None:
                        extra["critic"] = rt.critic.state_dict()
                    save_checkpoint(out / "last.pt", config=cfg.to_dict(), step=done, model=model,
                                    optimizer=optimizer, scaler=rt.scaler, extra=extra)
            ds.close()


def _rotations(batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
    """The cameras' rotations (B, S, 3, 3) of a multiview batch; NSD cannot go on without them."""
    rotation = batch["R"]
    if not torch.isfinite(rotation).all():
        raise TrainingError(f"step {step}: a view has no camera rotation; NSD needs label files with R for "
                            "every video of the rig")
    return rotation
