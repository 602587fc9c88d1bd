"""Supervised training of the localising pose network on a labeled cache (resumable, checkpointed).

``fit(cfg, run_dir)`` does the setup (cache, model, optimiser, resume) and loops ``train_step``; stats go to
``run_dir/metrics.jsonl`` as JSON lines, ``last.pt`` is rewritten atomically every ``checkpoint_every`` steps.
A held-out slice of the cache's videos (``val_every`` videos) is scored every ``eval_every`` steps.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from train.checkpoint import load_checkpoint, save_checkpoint
from train.losses.pose_heads import box_loss, confidence_bce, coord_l1, heatmap_ce
from train.metrics.keypoints import torso_diagonal
from train.posenet.augment import AugmentConfig, appearance, pose_crops, zoom_frames
from train.posenet.cache import Cache, load_cache
from train.posenet.config import RUN_TIME_SETTINGS, SIZES, PoseNetConfig
from train.posenet.empty import empty_crops
from train.posenet.model import PoseNet, PretrainedPoseHead
from train.posenet.ssl_init import load_ssl_trunk
from tvstream.errors import CheckpointError, LabelError
from tvstream.sysinfo import cpu_has_native_bf16

log = logging.getLogger(__name__)
KIND = "posenet"


@dataclass(frozen=True)
class LossWeights:
    coords: float = 1.0  # 2D soft-argmax L1 (crop coords)
    heatmap: float = 0.1  # cross-entropy to a Gaussian
    pose3d: float = 2.0  # L1 in metres
    confidence: float = 0.2
    box: float = 1.0
    box_centre_ce: float = 0.05  # inside the box term: the centre map's cross-entropy (small athletes need more)
    empty: float = 0.2  # every joint's confidence 0 on person-free crops (FitConfig.empty_crops)
    presence: float = 0.2  # a head's presence classifier (PoseNetConfig.presence): 1 on people, 0 on empty crops
    # how far the confidence's hit tolerance (0.1 of the crop's half-side) follows the person's size in the crop:
    # 0 not at all; 1 in proportion (a person half the size the runtime's crop gives them is a hit within 0.05).
    # At 0 a loose crop makes every joint a hit sooner, so the confidence could not tell a loose crop of a real
    # person from a right one (session 33: 1.3x the box cost the real dev set 0.22 PCK, the confidence 0.03).
    # Trained with --part confidence alone it lowered the confidence everywhere and the run lost (s33_rule.md, C)
    conf_follows_size: float = 0.0
    # rows without 3D labels (a venue's teacher rows) keep the start model's (``FitConfig.init``'s, frozen) 3D of
    # the same augmented crop (L1 in metres): tuned toward a teacher's 2D, the trunk drifted and nothing held the
    # 3D read from it on the venue's frames (session 44: +19 mm MPJPE on a rendered venue; s44_rule.md). 0: off
    hold3d: float = 0.0


# What a run trains. "detector": the box detector alone, on the small frames (the crops are not even read; per
# frame a step costs about a seventh of a whole one on the CPU). Made for a detector that lags the pose head (on
# the bench the head scores PCK@0.2 0.743 from the labeled box, 0.663 from the detector's); 6000 more steps for
# v9's detector did not move the bench (benchmarks/results/pose_bench_labeled_box_notes.md).
# "head": the pose head alone, on the crops (the detector is neither run nor changed): a head on a new trunk
# (``PoseNetConfig.head_trunk``) behind a detector that already finds people.
# "confidence": the confidence's output rows alone (the last K channels of the head's output convolution; every
# other weight and norm statistic is kept bit for bit, so the 2D and 3D do not move): calibrates a trained model's
# confidence, e.g. on person-free crops (``empty_crops``). 400 steps of "head" with them cost the shipped model
# 0.025 PCK on the real development photos; this part cannot.
# "lift": a pretrained head's 3D location maps, confidence, presence branch and lifter (:func:`lift_modules`); its
# trunk and heatmaps stay MediaPipe's, bit for bit, so the 2D is what MediaPipe learnt on real people. (Training the whole head on rendered people cost real-people 2D: on the real development set the trained
# Lite head read 0.554 from Heavy's box, MediaPipe's Full heatmaps untrained 0.697.)
# "lift+heat": as "lift", and the heatmap convolution (a 1 x 1 convolution of MediaPipe's features: the joints it
# builds from several landmarks, the spine and the head top, sat off the rendered labels: spine PCK 0.22, head 0.05
# on held-out training rows, against 0.92 for the trained Lite head)
PARTS = ("all", "detector", "head", "confidence", "lift", "lift+heat")
HEAD_PARTS = ("head", "confidence", "lift", "lift+heat")  # the detector is not run


@dataclass(frozen=True)
class FitConfig:
    """A training run. ``model`` names a size preset (``SIZES``)."""

    model: str = "full"
    cache: str = "cache/posenet"
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 1e-4
    seed: int = 0
    init: str | None = None  # warm start: the weights of another run's checkpoint of the same model size
    # the resnet head's trunk starts from a self-supervised run's encoder (``tvstream train ssl``: the paper's
    # pretraining on unlabeled video; train/posenet/ssl_init.py)
    init_trunk: str | None = None
    # the share of the training rows whose labels the run reads (a few-label run: 0.01, 0.1), drawn by ``seed``
    label_fraction: float = 1.0
    threads: int = 2
    device: str = "cpu"  # "cuda" on a GPU machine; augmentation stays on the CPU
    cpu_amp: bool = False  # bfloat16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX)
    # on the CPU the network's weights (and so its convolutions) run channels-last: oneDNN's fast path, above all
    # for MediaPipe's depthwise convolutions (a step of adapt's fine-tuning 1.8x faster on 2 cores). The same sums
    # in another order: the losses agree to float rounding (benchmarks/results/fit_step_time.md)
    channels_last: bool = True
    pretrained_lr: float = 0.1  # lr multiplier of a trunk trained on real people (PretrainedPoseHead): kept near it
    freeze_bn: bool = False  # batch norms keep their running statistics (a start recovered from ONNX: from_onnx.py)
    part: str = "all"  # PARTS: "detector" / "head" trains that part alone (the other is neither run nor changed)
    val_every: int = 40  # every n-th cached video is held out
    eval_every: int = 500
    checkpoint_every: int = 200
    # cache folder name -> how many times its training rows are drawn (a small set of real people among tens of
    # thousands of rendered frames: {"cutouts": 8}); folders not named are drawn once
    repeat: dict[str, int] = field(default_factory=dict)
    # person-free crops added to each training batch, their confidence taught 0 (train/posenet/empty.py): without
    # them the head never saw an empty crop and reported about 0.25 on a blank frame; ``empty_from``: a folder of
    # person-free photos (the real-photo plates) for half of them, the rest procedural fills
    empty_crops: int = 0
    empty_from: str | None = None
    weights: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.model not in SIZES:
            raise ValueError(f"model must be one of {', '.join(SIZES)}, got {self.model!r}")
        if self.steps < 1 or self.batch < 2:
            raise ValueError(f"need steps >= 1 and batch >= 2, got {self.steps}, {self.batch}")
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {self.part!r}")
        if SIZES[self.model].head_read == "landmarks":  # its head has no heatmaps for the losses to read
            raise ValueError(f"{self.model} reads people with MediaPipe's landmark network as it comes: nothing "
                             "trains it; build it with python -m train.posenet.landmarks")
        if self.empty_crops < 0:
            raise ValueError(f"empty_crops must be >= 0, got {self.empty_crops}")
        if not 0.0 < self.label_fraction <= 1.0:
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if self.weights.hold3d and not self.freeze_bn:  # else the two reads differ by their norms' statistics
            raise ValueError("weights.hold3d compares the network with its frozen start read alike: it needs freeze_bn")
        if any(int(k) != k or k < 1 for k in self.repeat.values()):
            raise ValueError(f"repeat counts must be whole numbers >= 1, got {self.repeat}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> FitConfig:
        d = dict(d)
        d["weights"] = LossWeights(**d.get("weights", {}))
        aug = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get("augment", {}).items()}
        d["augment"] = AugmentConfig(**aug)
        return FitConfig(**d)


def confidence_modules(model: PoseNet) -> torch.nn.ModuleList:
    """What ``part="confidence"`` trains: the head's output convolution (its confidence rows alone, see
    :func:`confidence_rows_only`) and the trunk's presence classifier where it has one."""
    presence = getattr(model.head.trunk, "presence", None)
    return torch.nn.ModuleList([model.head.out] + ([presence] if presence is not None else []))


def confidence_rows_only(out: torch.nn.Conv2d, joints: int) -> None:
    """Let ``out`` (the head's output convolution) learn in its last ``joints`` channels alone (the confidence
    logits): the other rows' gradients are zeroed (without weight decay, Adam then leaves them exactly)."""
    mask = torch.zeros(out.out_channels, dtype=out.weight.dtype, device=out.weight.device)
    mask[-joints:] = 1
    out.weight.register_hook(lambda grad: grad * mask.view(-1, 1, 1, 1))
    if out.bias is not None:
        out.bias.register_hook(lambda grad: grad * mask)


def lift_modules(model: PoseNet, heat: bool = False) -> torch.nn.ModuleList:
    """What ``part="lift"`` trains: a pretrained head's block and convolution after the trunk (3D location maps
    and confidence), its presence classifier if any (MediaPipe's pose flag, which multiplies the confidence: at
    tvstream's crops it was sure of people in empty crops) and the lifter if any; the trunk's features and the
    heatmap convolution are not among them, so the 2D stays the pretrained network's."""
    if not isinstance(model.head, PretrainedPoseHead):
        raise ValueError("part 'lift' needs a pretrained head_trunk (its 2D is the pretrained network's)")
    presence = getattr(model.head.trunk, "presence", None)
    return torch.nn.ModuleList([model.head.up, model.head.out] + [m for m in (presence, model.lifter) if m is not None]
                               + ([model.head.heat] if heat else []))


def trained_modules(model: PoseNet, part: str) -> torch.nn.Module:
    """What a run of ``part`` (PARTS) trains; "head" includes the lifter, which reads the head's 2D."""
    if part == "detector":
        return model.detector
    if part == "head":
        return model.head if model.lifter is None else torch.nn.ModuleList([model.head, model.lifter])
    if part == "confidence":
        return confidence_modules(model)
    if part.startswith("lift"):
        return lift_modules(model, heat=part == "lift+heat")
    return model


def param_groups(trained: torch.nn.Module, cfg: FitConfig) -> list[dict]:
    """The optimiser's groups: a pretrained trunk (``PretrainedPoseHead.trunk``) at ``cfg.pretrained_lr`` times
    the learning rate, so that what it learnt on real people is moved, not replaced; the rest at 1x."""
    pretrained = {id(p) for m in trained.modules() if isinstance(m, PretrainedPoseHead) for p in m.trunk.parameters()}
    slow = [p for p in trained.parameters() if id(p) in pretrained]
    rest = [p for p in trained.parameters() if id(p) not in pretrained]
    return [g for g in ({"params": rest, "lr_scale": 1.0}, {"params": slow, "lr_scale": cfg.pretrained_lr})
            if g["params"]]


def without_person_detector(cfg: PoseNetConfig) -> PoseNetConfig:
    """``cfg`` as a model without MediaPipe's person detector would have it (boxnet alone)."""
    default = PoseNetConfig()
    return replace(cfg, detector=default.detector, detector_box_scale=default.detector_box_scale,
                   detector_min_score=default.detector_min_score)


def same_detector(a: PoseNetConfig, b: PoseNetConfig) -> bool:
    """Whether models of configs ``a`` and ``b`` have the same box detector (they may differ in the head)."""
    return (a.frame_size, a.detector_stride, a.detector_width) == (b.frame_size, b.detector_stride, b.detector_width)


def train_mode(model: PoseNet, cfg: FitConfig) -> None:
    """``model.train()``, with the batch norms left in eval mode when ``cfg.freeze_bn`` (their scale and bias
    still learn; their statistics stay); all of it in eval mode for ``part="confidence"`` (a 1x1 convolution
    learns, no statistic may move)."""
    if cfg.part == "confidence":
        model.eval()
        return
    if cfg.part.startswith("lift"):  # the trunk's statistics stay; the new block's norm learns
        model.eval()
        trained_modules(model, cfg.part).train()
        return
    model.train()
    if cfg.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def calibrate_norms(model: PoseNet, batches: list[dict[str, torch.Tensor]], cfg: FitConfig) -> int:
    """Give identity batch norms (a start recovered from ONNX, ``from_onnx.py``) real statistics again.

    Each norm's input is measured over ``batches`` (the un-augmented crops and frames), and its scale, bias and
    running statistics are set so that its output is unchanged (``sigma * (x - mu) / sigma + mu + b``) while
    training normalises by the batch again, as the network was trained. (Training the identity norms instead,
    ``freeze_bn``, at lr 3e-4 made the held-out crop PCK fall from 0.669 to 0.626 in 1500 steps.) Returns the
    number of norms calibrated.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    sums = {id(m): [0.0, 0.0, 0] for m in norms}

    def record(module, inputs, output) -> None:
        x = inputs[0].detach().double().transpose(0, 1).flatten(1)  # (C, N*H*W)
        acc = sums[id(module)]
        acc[0], acc[1], acc[2] = acc[0] + x.sum(1), acc[1] + (x * x).sum(1), acc[2] + x.shape[1]

    hooks = [m.register_forward_hook(record) for m in norms]
    model.eval()
    g = torch.Generator().manual_seed(0)
    try:
        with torch.no_grad():
            for batch in batches:
                losses(model, batch, replace(cfg, cpu_amp=False), g, train=False)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for m in norms:
            total, squares, n = sums[id(m)]
            mu = total / n
            var = (squares / n - mu * mu).clamp_min(1e-8)
            m.bias.copy_((m.bias.double() + mu).float())  # identity norms: the bias carries the folded conv bias
            m.weight.copy_(torch.sqrt(var + m.eps).float())
            m.running_mean.copy_(mu.float())
            m.running_var.copy_(var.float())
    return len(norms)


def learning_rate(step: int, cfg: FitConfig) -> float:
    """Linear warm-up, then cosine decay to 1% of ``cfg.lr`` at ``cfg.steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


class Batches:
    """Random batches of ``n`` of the cache's training rows (held-out videos left out), read one batch ahead.

    The rows come from the batches' own generator, drawn in the caller's thread; a worker thread reads the
    next batch from the memory-mapped cache while the current step runs. :meth:`state` is the generator's
    state before the batch read ahead, so a run resumed from it draws the same batches.
    """

    def __init__(self, cache: Cache, rows: np.ndarray, n: int, g: torch.Generator, crops: bool = True) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.cache, self.rows, self.n, self.g, self.crops = cache, rows, n, g, crops
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="batches")
        self._ahead = None
        self._state = g.get_state()

    def _read_ahead(self) -> None:
        self._state = self.g.get_state()
        pick = np.sort(self.rows[torch.randint(len(self.rows), (self.n,), generator=self.g).numpy()])
        self._ahead = self._reader.submit(rows_to_tensors, self.cache, pick, self.crops)

    def take(self) -> dict[str, torch.Tensor]:
        if self._ahead is None:
            self._read_ahead()
        batch = self._ahead.result()
        self._read_ahead()
        return batch

    def state(self) -> torch.Tensor:
        return self._state

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)


def rows_to_tensors(cache: Cache, pick: np.ndarray, crops: bool = True) -> dict[str, torch.Tensor]:
    """Cache rows -> float tensors (images (N, 3, H, W) in [0, 1], 3D in metres); ``crops`` False leaves the
    pose head's crops unread (a detector-only run)."""
    def images(key: str) -> torch.Tensor:
        return torch.from_numpy(cache.image_rows(key, pick)).permute(0, 3, 1, 2).float() / 255

    labels = cache.labels
    j3 = torch.from_numpy(labels["joints3d"][pick]).float() / 1000
    has3d = torch.isfinite(j3).all(-1).all(-1)  # (N,) rows labeled in 2D only have NaN 3D
    return {**({"crops": images("crops")} if crops else {}), "frames": images("frames"),
            "joints2d": torch.from_numpy(labels["joints2d"][pick]).float(),
            "joints3d": torch.nan_to_num(j3), "has3d": has3d,
            "weight2d": torch.from_numpy(labels["weight2d"][pick]).float(),
            "tight": torch.from_numpy(labels["tight"][pick]).float(),
            "box": torch.from_numpy(labels["box"][pick]).float()}


def split_rows(cache: Cache, val_every: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): every ``val_every``-th video is held out."""
    held = cache.labels["video"] % val_every == val_every - 1
    return np.flatnonzero(~held), np.flatnonzero(held)


def labeled_share(rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``fraction`` of ``rows`` (at least one), drawn at random by ``seed``, in their order: the labeled frames a
    few-label run reads. The same seed draws the same rows, so runs that differ in their start read the same labels."""
    if fraction >= 1.0:
        return rows
    n = max(1, round(len(rows) * fraction))
    return rows[np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))]


def repeated_rows(cache: Cache, rows: np.ndarray, repeat: dict[str, int]) -> np.ndarray:
    """``rows`` with those of each cache folder named in ``repeat`` there that many times (drawn as often)."""
    unknown = set(repeat) - set(cache.names)
    if unknown:
        raise LabelError(f"repeat names {sorted(unknown)}: no such cache folder (there are {cache.names})")
    shard = np.searchsorted(cache.offsets, rows, side="right") - 1
    times = np.asarray([repeat.get(name, 1) for name in cache.names])[shard]
    return np.repeat(rows, times)


def person_scale(j2: torch.Tensor, before: torch.Tensor, tight: torch.Tensor, margin: float,
                 known: torch.Tensor) -> torch.Tensor:
    """(N,) each person's size in its crop against the runtime's crop of it (the labeled box grown by ``margin``,
    no jitter): the torso diagonal (``train.metrics.keypoints.torso_diagonal``, PCK's) of the crop's 2D labels
    ``j2 (N, K, 2)`` over that of the pre-crop's labels ``before`` in the runtime crop's units; 1 where a hip or
    shoulder is not ``known (N, K)``."""
    unknown = ~known[..., None].numpy()
    nominal = torso_diagonal(np.where(unknown, np.nan, before.numpy())) / (margin * tight.max(dim=1).values.numpy())
    now = torso_diagonal(np.where(unknown, np.nan, j2.numpy()))
    ok = np.isfinite(nominal) & (nominal > 0)
    return torch.from_numpy(np.where(ok, now / np.where(ok, nominal, 1.0), 1.0).astype(np.float32))


def confidence_tolerance(j2: torch.Tensor, batch: dict[str, torch.Tensor], mcfg: PoseNetConfig, w: LossWeights,
                         trust: torch.Tensor, device: torch.device) -> float | torch.Tensor:
    """The confidence's hit tolerance (crop coordinates): 0.1, or per crop (N, 1) following the person's size there
    (``LossWeights.conf_follows_size``)."""
    if not w.conf_follows_size:
        return 0.1
    scale = person_scale(j2.cpu(), batch["joints2d"], batch["tight"], mcfg.box_margin, trust.cpu() > 0)
    return (0.1 * scale.clamp(0.25, 2.0) ** w.conf_follows_size)[:, None].to(device)


def network_inputs(batch: dict[str, torch.Tensor], mcfg: PoseNetConfig, cfg: FitConfig, g: torch.Generator,
                   train: bool = True) -> tuple[torch.Tensor, ...]:
    """Cache rows -> ``(crops, joints2d, joints3d, frames, boxes, weight2d)`` as the networks see them: the crop
    around the labeled box, augmented when ``train`` (geometry, appearance, occluders; zoomed frames), and how
    much each 2D label is trusted. When ``train``, ``cfg.empty_crops`` person-free crops follow the rows' crops
    (``crops`` is longer than ``joints2d`` by that many)."""
    crops, j2, j3, trust = pose_crops(batch["crops"], batch["joints2d"], batch["joints3d"], batch["tight"],
                                      mcfg.crop_size, mcfg.box_margin, cfg.augment, g, train=train,
                                      weight=batch.get("weight2d"))
    if train:
        crops = appearance(crops, cfg.augment, g)
        if cfg.empty_crops:  # recoloured as the rest, without occluders (pasted from the batch: a person's limb)
            empty = empty_crops(cfg.empty_crops, mcfg.crop_size, g, cfg.empty_from)
            crops = torch.cat([crops, appearance(empty, replace(cfg.augment, occlude_p=0.0), g)])
    return (crops, j2, j3, *detector_inputs(batch, cfg, g, train), trust)


def detector_inputs(batch: dict[str, torch.Tensor], cfg: FitConfig, g: torch.Generator,
                    train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Cache rows -> ``(frames, boxes)`` as the detector sees them (zoomed and recoloured when ``train``)."""
    frames, boxes = batch["frames"], batch["box"]
    if train:
        frames, boxes = zoom_frames(frames, boxes, cfg.augment, g)
        frames = appearance(frames, replace(cfg.augment, occlude_p=0.0), g)
    return frames, boxes


def box_iou_normalised(centre: torch.Tensor, half: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean IoU of boxes ``centre ± half`` (N, 2 each) with ``target (N, 4)`` = [cx, cy, hx, hy]."""
    lo = torch.maximum(centre - half, target[:, :2] - target[:, 2:])
    hi = torch.minimum(centre + half, target[:, :2] + target[:, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    union = (2 * half).prod(-1) + (2 * target[:, 2:]).prod(-1) - inter
    return (inter / union.clamp(min=1e-9)).mean()


def detector_losses(model: PoseNet, batch: dict[str, torch.Tensor], cfg: FitConfig, g: torch.Generator,
                    train: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """The box term alone (``part="detector"``): the pose head is not run."""
    device = next(model.parameters()).device
    frames, boxes = (t.to(device) for t in detector_inputs(batch, cfg, g, train))
    centre, half, box_map = model.detect(frames)
    box = box_loss(centre, half, box_map[:, 0], boxes, ce_weight=cfg.weights.box_centre_ce)
    return cfg.weights.box * box, {"box": float(box.detach()),
                                   "box_iou": float(box_iou_normalised(centre.detach(), half.detach(), boxes))}


def losses(model: PoseNet, batch: dict[str, torch.Tensor], cfg: FitConfig, g: torch.Generator,
           train: bool = True, start: PoseNet | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted loss of one batch and its terms (augmentation on the CPU, the networks on ``cfg.device``);
    ``start``: the frozen start model whose 3D the rows without 3D labels keep (``LossWeights.hold3d``)."""
    if cfg.part == "detector":
        return detector_losses(model, batch, cfg, g, train)
    mcfg, w = model.cfg, cfg.weights
    device = next(model.parameters()).device
    inputs = network_inputs(batch, mcfg, cfg, g, train)
    crops, j2, j3, frames, boxes, trust = (t.to(device) for t in inputs)
    amp = torch.autocast(device.type, dtype=torch.bfloat16 if device.type == "cpu" else torch.float16,
                         enabled=cfg.cpu_amp if device.type == "cpu" else True)
    with amp:
        xy, xyz, conf, logits, flag = model.read_crop(crops, presence=True)
        if cfg.part not in HEAD_PARTS:
            centre, half, box_map = model.detect(frames)
    n = len(j2)  # the rows' crops; any after them are empty crops
    conf_empty = conf[n:].float()
    xy, xyz, conf, logits = xy[:n].float(), xyz[:n].float(), conf[:n].float(), logits[:n].float()
    has3d = batch["has3d"].to(device) if "has3d" in batch else torch.ones(len(j2), dtype=torch.bool, device=device)
    inside = (j2.abs() < 1).all(-1)  # (N, K)
    weight = inside.float() * trust  # a teacher's pseudo-labels count by its confidence (the weak-2D term)
    weight3d = has3d[:, None].float().expand_as(weight)
    terms = {
        "coords": coord_l1(xy, j2, weight),
        "heatmap": heatmap_ce(logits, j2, mcfg.heatmap_size, weight),
        "pose3d": coord_l1(xyz, j3 - j3[:, :1], weight3d),
        "confidence": confidence_bce(conf, xy, j2, inside, known=trust > 0,
                                     tolerance=confidence_tolerance(j2, batch, mcfg, w, trust, device)),
    }
    free = ~has3d  # the start model reads these rows alone (a quarter of adapt's batches)
    if start is not None and free.any():
        terms["hold3d"] = coord_l1(xyz[free], start_3d(start, crops[:n][free], amp), torch.ones_like(weight[free]))
    if len(conf_empty):
        terms["empty"] = F.binary_cross_entropy(conf_empty.clamp(1e-6, 1 - 1e-6), torch.zeros_like(conf_empty))
    if flag is not None:  # the presence classifier: people's crops 1, empty crops 0 (each class its own mean)
        flag = flag.float()[:, 0]
        terms["presence"] = sum(F.binary_cross_entropy_with_logits(part, torch.full_like(part, target))
                                for part, target in ((flag[:n], 1.0), (flag[n:], 0.0)) if len(part))
    if cfg.part not in HEAD_PARTS:
        centre, half = centre.float(), half.float()
        terms["box"] = box_loss(centre, half, box_map[:, 0].float(), boxes, ce_weight=w.box_centre_ce)
    total = sum(getattr(w, k) * v for k, v in terms.items())
    stats = {k: float(v.detach()) for k, v in terms.items()}
    if len(conf_empty):
        stats["empty_conf"] = float(conf_empty.detach().mean())
    if cfg.part not in HEAD_PARTS:
        stats["box_iou"] = float(box_iou_normalised(centre.detach(), half.detach(), boxes))
    err3d = (xyz.detach() - (j3 - j3[:, :1])).norm(dim=-1)  # (N, K)
    stats["mpjpe_mm"] = float((err3d * weight3d).sum() / weight3d.sum().clamp(min=1) * 1000)
    stats["pck_crop"] = float((((xy.detach() - j2).norm(dim=-1) < 0.1).float() * weight).sum() / weight.sum().clamp(min=1))
    return total, stats


@torch.no_grad()
def start_3d(start: PoseNet, crops: torch.Tensor, amp) -> torch.Tensor:
    """The frozen start model's root-relative 3D ``(N, K, 3)`` of ``crops``, as the trained model reads them."""
    with amp:
        return start.read_crop(crops)[1].float()


def start_model(cfg: FitConfig, mcfg: PoseNetConfig) -> PoseNet | None:
    """``cfg.init``'s weights, frozen in eval mode, when ``weights.hold3d`` holds the 3D to them; else None."""
    if not cfg.weights.hold3d or cfg.part == "detector":
        return None
    if not cfg.init:
        raise ValueError("weights.hold3d keeps the 3D of the start model: it needs an init")
    init = load_checkpoint(Path(cfg.init), expect={"kind": KIND}, keys=("kind",))
    if not PoseNetConfig.from_dict(init["config"]["model"]).same_weights(mcfg):
        raise CheckpointError(f"{cfg.init}: weights.hold3d needs an init of this model's weights ({cfg.model})")
    start = PoseNet(mcfg)
    start.load_state_dict(init["model"])
    if cfg.channels_last and torch.device(cfg.device).type == "cpu":
        start.to(memory_format=torch.channels_last)
    return start.to(cfg.device).eval().requires_grad_(False)


@torch.no_grad()
def evaluate_rows(model: PoseNet, cache: Cache, rows: np.ndarray, cfg: FitConfig,
                  max_rows: int = 512) -> dict[str, float]:
    """Held-out stats without augmentation (the runtime's crop around the labeled box)."""
    if len(rows) == 0:
        return {}
    model.eval()
    rows = rows[np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).astype(int)]
    g = torch.Generator().manual_seed(0)
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    chunks = np.array_split(rows, max(1, len(rows) // 64))
    for chunk in chunks:
        batch = rows_to_tensors(cache, chunk, crops=cfg.part != "detector")
        _, stats = losses(model, batch, cfg, g, train=False)
        rows3d = float(batch["has3d"].sum())  # the 3D terms are means over the rows that have 3D
        for k, v in stats.items():
            n = rows3d if k in ("pose3d", "mpjpe_mm") else len(chunk)
            sums[k], counts[k] = sums.get(k, 0.0) + v * n, counts.get(k, 0.0) + n
    train_mode(model, cfg)
    return {f"val_{k}": v / counts[k] for k, v in sums.items() if counts[k] > 0}


def fit(cfg: FitConfig, run_dir: Path, resume: bool = False,
        progress: Callable[[int, int, dict], None] | None = None) -> dict:
    """Train (or resume) ``cfg`` into ``run_dir``; returns the last stats."""
    # ---- setup: threads, data, model, optimiser
    torch.set_num_threads(cfg.threads)
    if cfg.cpu_amp and cfg.device == "cpu" and not cpu_has_native_bf16():
        log.warning("cpu_amp: this CPU has no native bfloat16 (AVX512-BF16 / AMX); emulated bf16 autocast ran 10x "
                    "slower than float32 here: train without --cpu-amp")
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "last.pt"
    if ckpt_path.exists() and not resume:
        raise CheckpointError(f"{run_dir} already holds a run (resume it, or train into another folder)")
    cache = load_cache(Path(cfg.cache))
    train_rows, val_rows = split_rows(cache, cfg.val_every)
    train_rows = repeated_rows(cache, labeled_share(train_rows, cfg.label_fraction, cfg.seed), cfg.repeat)
    mcfg: PoseNetConfig = SIZES[cfg.model]
    torch.manual_seed(cfg.seed)
    model = PoseNet(mcfg).to(cfg.device)
    trained = trained_modules(model, cfg.part)
    if cfg.part in ("confidence", "lift", "lift+heat"):
        model.requires_grad_(False)
        trained.requires_grad_(True)
    if cfg.part == "confidence":
        confidence_rows_only(model.head.out, mcfg.joints)
    optimiser = torch.optim.AdamW(param_groups(trained, cfg), lr=cfg.lr,
                                  weight_decay=0.0 if cfg.part == "confidence" else cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)  # augmentation
    row_g = torch.Generator().manual_seed(cfg.seed + 1)  # which rows each batch reads
    step = 0
    fresh = not (resume and ckpt_path.exists())
    if model.person_detector is not None:  # MediaPipe's person detector is read from its file, never trained
        model.person_detector.requires_grad_(False)
    init_cfg = None
    if cfg.init and fresh:
        init = load_checkpoint(Path(cfg.init), expect={"kind": KIND}, keys=("kind",))
        init_cfg = PoseNetConfig.from_dict(init["config"]["model"])
    # the init's head is taken whole when it holds this model's weights (or differs in the person detector alone)
    head_from_init = init_cfg is not None and (init_cfg.same_weights(mcfg) or init_cfg == without_person_detector(mcfg))
    if fresh and isinstance(model.head, PretrainedPoseHead) and not head_from_init:
        model.head.load_pretrained()  # MediaPipe's landmark network, from the teacher venv (train.pretrained)
        model.to(cfg.device)
    if fresh and model.person_detector is not None and (init_cfg is None or init_cfg.detector == "boxnet"):
        model.person_detector.load_tflite()  # else the init checkpoint holds its weights
        model.to(cfg.device)
    if init_cfg is not None:
        if init_cfg.same_weights(mcfg):  # run-time settings (e.g. a shipped model's mirror_read) are the run's own
            model.load_state_dict({k: v.to(cfg.device) for k, v in init["model"].items()})
            if init_cfg != mcfg:
                log.info("init %s: its weights; its run-time settings (%s) are this run's, reconfigure sets them",
                         cfg.init, ", ".join(f"{k}={getattr(init_cfg, k)}" for k in RUN_TIME_SETTINGS
                                             if getattr(init_cfg, k) != getattr(mcfg, k)))
        elif init_cfg in (replace(mcfg, presence=False), without_person_detector(mcfg)):
            # a model from before the presence classifier, or without MediaPipe's person detector: those start
            # from MediaPipe's weights, read above
            missing, unexpected = model.load_state_dict({k: v.to(cfg.device) for k, v in init["model"].items()},
                                                        strict=False)
            part = ".presence." if init_cfg.presence != mcfg.presence else "person_detector."
            if unexpected or not all(part in k for k in missing):
                raise CheckpointError(f"{cfg.init}: its weights do not fit this model without its {part.strip('.')}")
            log.info("init %s: a model without %s, which starts from MediaPipe's", cfg.init, part.strip("."))
        elif same_detector(init_cfg, mcfg):  # another head: take the detectors, the head starts as it is
            for name in ("detector", "person_detector"):
                part = getattr(model, name)
                if part is not None and (name == "detector" or init_cfg.detector == mcfg.detector):
                    part.load_state_dict({k.removeprefix(f"{name}."): v.to(cfg.device)
                                          for k, v in init["model"].items() if k.startswith(f"{name}.")})
            log.info("init %s: its detectors only (its pose head is another size)", cfg.init)
        else:
            raise CheckpointError(f"{cfg.init}: a {init_cfg} checkpoint, neither this model ({mcfg}) nor one with "
                                  "its box detector")
        if init["config"].get("fit", {}).get("recovered_from") and not cfg.freeze_bn and cfg.part == "all":
            picks = np.array_split(train_rows[torch.randperm(len(train_rows), generator=g)[:256].numpy()], 8)
            n = calibrate_norms(model, [rows_to_tensors(cache, p) for p in picks if len(p)], cfg)
            log.info("init %s was recovered from ONNX: %d batch norms calibrated on 256 training rows", cfg.init, n)
    if cfg.init_trunk and fresh:
        n = load_ssl_trunk(model.head, cfg.init_trunk)
        log.info("init_trunk %s: %d tensors of its self-supervised encoder", cfg.init_trunk, n)
    if cfg.channels_last and torch.device(cfg.device).type == "cpu":  # the same Parameters, their data restrided
        model.to(memory_format=torch.channels_last)
    # ---- resume
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, expect={"kind": KIND, "model": mcfg.to_dict()}, keys=("kind", "model"))
        state["model"] = {k: v.to(cfg.device) for k, v in state["model"].items()}
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        g.set_state(state["rng"]["generator"])
        step = state["step"]
        if "rows" in state["rng"]:
            row_g.set_state(state["rng"]["rows"])
        else:  # a checkpoint from before batches had their own generator
            row_g.manual_seed(cfg.seed + 1 + step)
    start = start_model(cfg, mcfg)  # from the init's file, so that a resumed run holds to the same model
    batches = Batches(cache, train_rows, cfg.batch, row_g, crops=cfg.part != "detector")
    metrics = (run_dir / "metrics.jsonl").open("a")
    stats: dict[str, float] = {}
    train_mode(model, cfg)
    try:
        while step < cfg.steps:
            tic = time.perf_counter()
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(step, cfg) * group["lr_scale"]
            loss, stats = losses(model, batches.take(), cfg, g, start=start)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"loss is {float(loss)} at step {step}: stopping (last good: {ckpt_path})")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            stats |= {"step": step, "loss": float(loss.detach()), "lr": learning_rate(step - 1, cfg),
                      "s_per_step": time.perf_counter() - tic}
            if step % cfg.eval_every == 0 or step == cfg.steps:
                stats |= evaluate_rows(model, cache, val_rows, cfg)
            if step % 25 == 0 or "val_loss" in stats or "val_coords" in stats:
                metrics.write(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in stats.items()})
                              + "\n")
                metrics.flush()
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save(ckpt_path, cfg, mcfg, step, model, optimiser, g, batches.state())
            if progress is not None:
                progress(step, cfg.steps, stats)
    finally:
        metrics.close()
        batches.close()
    return stats


def save(path: Path, cfg: FitConfig, mcfg: PoseNetConfig, step: int, model: PoseNet,
         optimiser: torch.optim.Optimizer, g: torch.Generator, rows: torch.Tensor) -> None:
    """The run's checkpoint: weights, optimiser, the augmentation generator and the batches' (``rows``)."""
    save_checkpoint(path, config={"kind": KIND, "model": mcfg.to_dict(), "fit": cfg.to_dict()}, step=step,
                    model=model, optimizer=optimiser, rng_state={"generator": g.get_state(), "rows": rows})


def load_model(path: Path) -> tuple[PoseNet, dict]:
    """A trained PoseNet (eval mode) and its checkpoint's state, refusing other kinds of checkpoint."""
    state = load_checkpoint(path)
    if state["config"].get("kind") != KIND:
        raise CheckpointError(f"{path}: not a pose-network checkpoint (kind {state['config'].get('kind')!r})")
    model = PoseNet(PoseNetConfig.from_dict(state["config"]["model"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="train the localising pose network on a labeled cache")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--model", default="full", choices=sorted(SIZES))
    ap.add_argument("--cache", default="cache/posenet")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cpu-amp", action="store_true", help="bfloat16 autocast on the CPU")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--part", default="all", choices=PARTS,
                    help="what to train (detector: the box detector alone; lift: a pretrained head's 3D and confidence)")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (same model size)")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    cfg = FitConfig(model=args.model, cache=args.cache, steps=args.steps, batch=args.batch, threads=args.threads,
                    device=args.device, cpu_amp=args.cpu_amp, part=args.part, init=args.init, lr=args.lr)
    if args.resume and (args.run_dir / "last.pt").exists():
        cfg = FitConfig.from_dict(load_checkpoint(args.run_dir / "last.pt")["config"]["fit"])
        cfg = FitConfig.from_dict({**cfg.to_dict(), "steps": args.steps})

    def report(step: int, total: int, stats: dict) -> None:
        if step % 25 == 0:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}), flush=True)

    fit(cfg, args.run_dir, resume=args.resume, progress=report)


if __name__ == "__main__":
    main()
