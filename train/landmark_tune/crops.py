"""The fine-tuning's crops: 256 px squares around labeled people (uint8), with their targets, decoded once.

Each labeled frame kept gives one crop: a square of ``box_margin`` x the labeled box's longer side around its
centre, the side then scaled by U(``jitter_scale``) and the centre shifted by U(-``jitter_shift``, ``jitter_shift``)
x the side on each axis (the runtime's boxes are never the labeled one). Targets: the 2D joints in the crop's
units ([-1, 1] across it, as ``LandmarkPoseHead`` reads them), the 3D root-relative in metres (NaN where only 2D is
labeled: the cut-outs, whose labels are a teacher's 2D), which joints are labeled and in view.

Rendered shards give clips ``skip_clips`` onward (the first ones are the design sets the recipe is judged on) and
every ``render_every``-th labeled frame; the cut-outs every ``real_every``-th. A source's crops go to one ``.npz``
written through a temp file and a rename, so a stopped run rebuilds at most the file it was writing.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import torch

from train.landmark_tune.config import LandmarkTuneConfig
from train.models.spatial import crop
from train.posenet.cache import MIN_BOX_PX
from tvstream.errors import LabelError
from tvstream.labels import load_any_labels
from tvstream.manifest import MANIFEST_NAME, discover
from tvstream.sources import upright

log = logging.getLogger(__name__)

FIELDS = ("x", "y2", "vis", "y3", "clip", "frame")  # what a crops file holds (see :func:`crop_clip`)
SOURCES = {"render": 0, "real": 1}  # crops file -> its jitter generator's stream


def square(box: np.ndarray, margin: float) -> tuple[float, float, float]:
    """``box [x0, y0, x1, y1]`` (pixel edges) -> ``(cx, cy, side)`` of the square ``margin`` x its longer side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 + x1) / 2, (y0 + y1) / 2, margin * max(x1 - x0, y1 - y0)


def jitter(cx: float, cy: float, side: float, cfg: LandmarkTuneConfig,
           rng: np.random.Generator) -> tuple[float, float, float]:
    """The square scaled by U(``jitter_scale``), then its centre shifted by U(+-``jitter_shift``) x the new side."""
    side *= rng.uniform(*cfg.jitter_scale)
    cx += rng.uniform(-cfg.jitter_shift, cfg.jitter_shift) * side
    cy += rng.uniform(-cfg.jitter_shift, cfg.jitter_shift) * side
    return cx, cy, side


def cut(image: np.ndarray, cx: float, cy: float, side: float, size: int, angle: float = 0.0) -> np.ndarray:
    """``image (H, W, 3)`` uint8 -> ``(size, size, 3)`` uint8: the square (pixel-edge coordinates) resampled
    bilinearly, black outside the frame (``train.models.spatial.crop``, as the runtime cuts its crops), turned by
    ``angle`` (radians: the crop's up direction is ``(sin a, -cos a)`` in the frame)."""
    h, w = image.shape[:2]
    frame = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    scale = torch.tensor([[side / w, side / h]])  # the square's half-side in the frame's normalised units
    centre = torch.tensor([[2 * cx / w - 1, 2 * cy / h - 1]])
    turn = torch.tensor([[math.cos(angle), math.sin(angle)]]) if angle else None
    out = crop(frame, scale, centre, size, turn)[0]  # (3, size, size)
    return out.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def targets(joints2d: np.ndarray, visible: np.ndarray, joints3d: np.ndarray, cx: float, cy: float,
            side: float, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One labeled frame's ``joints2d (K, 2)`` pixels (centres at integers, as labels are), ``visible (K,)``,
    ``joints3d (K, 3)`` mm -> 2D in the crop's units (0 where unknown), in view and known, 3D root-relative in m;
    both in the axes of a crop turned by ``angle`` (:func:`cut`; the graph turns a turned crop's 3D x and y back,
    ``train.models.spatial.turn_points``)."""
    known = np.isfinite(joints2d).all(-1) & visible
    back = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])  # frame -> crop
    y2 = np.where(known[:, None], (joints2d + 0.5 - [cx, cy]) @ back.T / (side / 2), 0.0)  # +0.5: centres -> edges
    y3 = (joints3d - joints3d[:1]) / 1000.0 if np.isfinite(joints3d).all() else np.full_like(joints3d, np.nan)
    y3 = np.concatenate([y3[:, :2] @ back.T, y3[:, 2:]], 1)
    return y2.astype(np.float32), known, y3.astype(np.float32)


def body_angle(joints2d: np.ndarray, known: np.ndarray) -> float | None:
    """The angle a turned crop of this body has (``tvstream.tracking.body_angle``, as the runtime's tracker reads
    it); None unless both hips and shoulders are known."""
    from tvstream.tracking import BODY_AXIS
    from tvstream.tracking import body_angle as angle

    return angle(joints2d) if known[BODY_AXIS].all() else None


def crop_clip(video: Path, labels_path: Path, every: int, cfg: LandmarkTuneConfig,
              rng: np.random.Generator) -> dict[str, list]:
    """The crops of one labeled clip: its labeled frames whose index is a multiple of ``every``, with at least
    ``min_visible`` joints in view (on a teacher's labels, of confidence >= ``min_confidence``). Lists of
    ``x (S, S, 3)`` uint8, ``y2 (K, 2)``, ``vis (K,)``, ``y3 (K, 3)``, ``frame`` (the frame index)."""
    labels = load_any_labels(labels_path)
    rows = {int(f): i for i, f in enumerate(labels.frames)}
    out: dict[str, list] = {k: [] for k in ("x", "y2", "vis", "y3", "frame")}
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            i = rows.get(index)
            if i is None or index % every:
                continue
            box, known = labels.box[i], np.isfinite(labels.joints2d[i]).all(-1) & labels.visible[i]
            if labels.confidence is not None:  # a teacher's labels
                known &= labels.confidence[i] >= cfg.min_confidence
            if known.sum() < cfg.min_visible or not np.isfinite(box).all() or \
                    min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX:
                continue
            cx, cy, side = jitter(*square(box, cfg.box_margin), cfg, rng)
            angle = 0.0
            if cfg.turn_p and rng.random() < cfg.turn_p:  # no draw at 0: the upright recipe's crops stay its own
                body = body_angle(labels.joints2d[i], known)
                angle = 0.0 if body is None else body + rng.uniform(-cfg.turn_jitter, cfg.turn_jitter)
            image = upright(frame.to_ndarray(format="rgb24"), round(frame.rotation / 90) % 4)  # as the labels
            y2, vis, y3 = targets(labels.joints2d[i], known, labels.joints3d[i], cx, cy, side, angle)
            for key, value in zip(out, (cut(image, cx, cy, side, cfg.crop, angle), y2, vis, y3, index)):
                out[key].append(value)
    return out


def render_shards(folders: tuple[str, ...]) -> list[Path]:
    """The rendered shards: a folder holding a ``manifest.json`` is one; a folder without one, each of its
    subfolders that holds one (``data/design`` -> its shards)."""
    shards = []
    for folder in map(Path, folders):
        if (folder / MANIFEST_NAME).is_file():
            shards.append(folder)
            continue
        inside = sorted(p for p in folder.iterdir() if (p / MANIFEST_NAME).is_file()) if folder.is_dir() else []
        if not inside:
            raise LabelError(f"{folder}: no {MANIFEST_NAME} in it or in its subfolders (a rendered shard)")
        shards += inside
    return shards


def render_entries(cfg: LandmarkTuneConfig) -> list[tuple[Path, object]]:
    """``(shard, manifest entry)`` of each labeled rendered clip the crops are cut from (each shard's clips from
    ``skip_clips`` on), in the crops files' clip order."""
    return [(shard, e) for shard in render_shards(cfg.renders) for e in discover(shard)[cfg.skip_clips:] if e.labels]


def source_clips(cfg: LandmarkTuneConfig, source: str) -> list[tuple[Path, Path]]:
    """``(video, labels)`` of ``source``: "render" (each shard's clips from ``skip_clips`` on) or "real"."""
    entries = [e for _, e in render_entries(cfg)] if source == "render" else [e for e in discover(cfg.real) if e.labels]
    clips = [(Path(e.video), Path(e.labels)) for e in entries]
    if not clips:
        raise LabelError(f"no labeled clips for the {source} crops ({cfg.renders if source == 'render' else cfg.real})")
    return clips


def shard_recipe(shard: Path) -> dict:
    """A rendered shard's recipe (its ``synth_config.json``), ``{}`` where it has none."""
    recipe = Path(shard) / "synth_config.json"
    return json.loads(recipe.read_text()) if recipe.is_file() else {}


def scenario(shard: Path) -> str:
    """A rendered shard's scenario (its recipe's), else its folder's name."""
    return str(shard_recipe(shard).get("scenario", shard.name))


def draw_weights(cfg: LandmarkTuneConfig, clip: np.ndarray) -> np.ndarray | None:
    """Each rendered crop's chance of being drawn (``render_draw``; ``clip``: the crops' clip numbers): None for
    "crop" (every crop alike), else 1 / (the crops of its group) / (the groups), a shard or a scenario per group."""
    if cfg.render_draw == "crop":
        return None
    keys = [str(shard) if cfg.render_draw == "shard" else scenario(shard) for shard, _ in render_entries(cfg)]
    if len(keys) <= int(clip.max()):
        raise LabelError(f"the rendered crops name clip {int(clip.max())} of {len(keys)} clips in {cfg.renders}: "
                         f"the folders changed since the crops were cut (remove WORK/crops to cut them again)")
    _, group = np.unique(np.asarray(keys)[clip], return_inverse=True)
    counts = np.bincount(group)
    return 1.0 / (counts[group] * len(counts))


def build_crops(cfg: LandmarkTuneConfig, source: str) -> Iterator[tuple[int, int, dict[str, list]]]:
    """``source``'s crops clip by clip: ``(clip number, clips, its crops)``, jittered by the source's own generator
    (``seed``), so a file is the same whenever it is built."""
    clips = source_clips(cfg, source)
    every = cfg.render_every if source == "render" else cfg.real_every
    rng = np.random.default_rng([cfg.seed, SOURCES[source]])
    for n, (video, labels) in enumerate(clips):
        yield n, len(clips), crop_clip(video, labels, every, cfg, rng)


def write_crops(path: Path, cfg: LandmarkTuneConfig, source: str) -> int:
    """Build ``source``'s crops into ``path`` (.npz: :data:`FIELDS`, ``clip`` the clip's number), atomically;
    returns how many."""
    parts: dict[str, list] = {k: [] for k in FIELDS}
    for n, total, rows in build_crops(cfg, source):
        for key, values in rows.items():
            parts[key] += values
        parts["clip"] += [n] * len(rows["x"])
        log.info("crops %s: clip %d/%d, %d crops", source, n + 1, total, len(parts["x"]))
    if not parts["x"]:
        raise LabelError(f"no frame of the {source} clips has {cfg.min_visible} joints in view: no crops")
    dtypes = {"x": np.uint8, "y2": np.float32, "vis": bool, "y3": np.float32, "clip": np.int32, "frame": np.int32}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(f, **{k: np.asarray(v, dtype=dtypes[k]) for k, v in parts.items()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(parts["x"])


def load_crops(path: Path) -> dict[str, np.ndarray]:
    """A crops file's arrays (:data:`FIELDS`), in memory."""
    with np.load(path) as f:
        return {k: f[k] for k in FIELDS}
