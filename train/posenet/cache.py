"""Labeled videos -> a training cache: per frame a square pre-crop around the athlete and a small whole frame.

Decoding H.264 every step would cost more than the step, so each labeled frame is decoded once into:
- ``crops (N, P, P, 3)`` uint8: a square of twice the box's longer side around the box centre (room for
  scale, shift and rotation augmentation), resampled to ``P`` pixels;
- ``frames (N, h, w, 3)`` uint8: the whole frame at the detector's size (area-averaged, as the runtime's
  scale-then-pool);
- ``joints2d (N, K, 2)`` in the pre-crop's normalised coordinates (-1..1 over its square),
  ``joints3d (N, K, 3)`` mm pelvis-relative (camera axes; NaN on frames labeled in 2D only),
  ``visible (N, K)``, ``box (N, 4)`` = ``[cx, cy, hx, hy]`` in the frame's normalised coordinates,
  ``tight (N, 2)`` the box half-size in the pre-crop's coordinates, ``weight2d (N, K)`` how much each 2D
  joint is trusted (1 for rendered labels; a teacher's confidence for pseudo-labels, 0 where it gave none).
Works for any folder of labeled clips (``VideoDataset``'s formats), synthetic or real. Frames labeled in 2D
only (hand labels, a teacher's pseudo-labels: ``tvstream label``) are kept; their 3D term is masked in training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from tvstream.errors import LabelError
from tvstream.frame_fit import FrameFit
from tvstream.labels import load_any_labels
from tvstream.manifest import discover
from tvstream.sources import upright

log = logging.getLogger(__name__)

CACHE_SIDE = 160  # pixels of a cached pre-crop (what `tvstream train posenet` and `adapt` build)
PRECROP_SIDE = 2.0  # pre-crop side / the box's longer side
MIN_BOX_PX = 8  # smaller athletes are left out of training
MIN_VISIBLE = 6  # frames with fewer joints in view are left out
# how the small frames sit in the detector's size: "aspect" (kept, black bars; tvstream.frame_fit). A cache without
# it was stretched: built again
FIT = "aspect"
FIELDS = ("crops", "frames", "joints2d", "joints3d", "visible", "box", "tight", "weight2d")
LABEL_FIELDS = ("joints2d", "joints3d", "visible", "box", "tight", "weight2d")


def _labeled_videos(folder: Path) -> list[tuple[Path, Path]]:
    """(video, labels) pairs of a dataset folder (manifest or plain folder), labeled ones only."""
    return [(Path(e.video), Path(e.labels)) for e in discover(folder) if e.labels is not None]


def fingerprint(videos: list[tuple[Path, Path]]) -> str:
    """A digest of the clips' and labels' paths, sizes and modification times: a re-rendered world differs."""
    import hashlib

    digest = hashlib.sha256()
    for path in (p for pair in videos for p in pair):
        st = path.stat() if path.exists() else None  # a missing clip is left out by the build, not fatal here
        digest.update(f"{path.resolve()}|{st and st.st_size}|{st and st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def precrop(image: np.ndarray, box: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Square pre-crop of ``image`` around ``box`` [x0, y0, x1, y1] px; returns crop, centre (edge coords), side px."""
    import cv2

    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    q = PRECROP_SIDE * max(box[2] - box[0], box[3] - box[1], MIN_BOX_PX)
    a = side / q
    # source edge coordinate e maps to (e - (c - q/2)) * a; cv2 maps pixel centres (integers): shift by 0.5
    m = np.array([[a, 0, (0.5 - centre[0] + q / 2) * a - 0.5], [0, a, (0.5 - centre[1] + q / 2) * a - 0.5]])
    out = cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_AREA if a < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return out, centre, q


def cache_video(video: Path, labels_path: Path, side: int, small: tuple[int, int]) -> dict[str, np.ndarray]:
    """The cache rows of one labeled video (frames without usable labels are skipped)."""
    import cv2

    labels = load_any_labels(labels_path)
    rows = {int(f): i for i, f in enumerate(labels.frames)}
    trust = labels.confidence  # (N, K) a teacher's confidence, or None
    out: dict[str, list] = {k: [] for k in FIELDS}
    fit = None
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            i = rows.get(index)
            if i is None:
                continue
            known = np.isfinite(labels.joints2d[i]).all(-1)  # (K,) a teacher may leave joints out
            box, vis = labels.box[i], labels.visible[i] & known
            if not np.isfinite(box).all() or min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_PX \
                    or vis.sum() < MIN_VISIBLE:
                continue
            image = upright(frame.to_ndarray(format="rgb24"), round(frame.rotation / 90) % 4)  # as the labels
            if fit is None:  # the small frame keeps the source's aspect, as the runtime's (tvstream.frame_fit)
                fit = FrameFit.of(image.shape[:2], small)
            crop_img, centre, q = precrop(image, box, side)
            has3d = bool(np.isfinite(labels.joints3d[i]).all())
            j3 = labels.joints3d[i] if has3d else np.full_like(labels.joints3d[i], np.nan)
            out["crops"].append(crop_img)
            out["frames"].append(fit.place(cv2.resize(image, fit.content[::-1], interpolation=cv2.INTER_AREA)))
            out["joints2d"].append(np.where(known[:, None], 2 * (labels.joints2d[i] + 0.5 - centre) / q, 0.0))
            out["joints3d"].append(j3 - j3[:1])
            out["visible"].append(vis)
            out["box"].append(fit.normalised_boxes(box))
            out["tight"].append([(box[2] - box[0]) / q, (box[3] - box[1]) / q])
            if trust is not None:
                weight = np.clip(trust[i], 0.0, 1.0)
            else:  # rendered labels: all trusted; 2D-only hand labels: a joint marked not visible may be a guess
                weight = np.ones(vis.shape, np.float32) if has3d else vis.astype(np.float32)
            out["weight2d"].append(np.where(known, weight, 0.0))
    dtypes = {"crops": np.uint8, "frames": np.uint8, "visible": bool}
    return {k: np.asarray(v, dtype=dtypes.get(k, np.float32)) for k, v in out.items()}


def build_cache(data: Path, out: Path, side: int, small: tuple[int, int],
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Cache every labeled video under ``data`` (a dataset, or a folder of datasets) into ``out/*.npy``.

    Written to temp names and renamed last, so a stopped build leaves no half cache (it restarts).
    """
    marker = out / "cache.json"
    folders = [data] if (data / "manifest.json").is_file() else sorted(p for p in data.iterdir()
                                                                         if (p / "manifest.json").is_file())
    videos = [pair for folder in folders for pair in _labeled_videos(folder)]
    if not videos:
        raise LabelError(f"{data}: no labeled videos")
    stamp = fingerprint(videos)
    if marker.is_file():
        meta = json.loads(marker.read_text())
        if (meta["side"] == side and meta["small"] == list(small) and meta.get("fingerprint") == stamp
                and meta.get("fit") == FIT):
            return meta
        log.info("%s: the clips, the sizes or the frame fit changed since %s was built; building it again",
                 data, out)
        marker.unlink()  # a stop during the rebuild must not leave the old marker over new files
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    sources = []
    for n, (video, labels) in enumerate(videos):
        try:
            rows = cache_video(video, labels, side, small)
        except (av.error.FFmpegError, LabelError, OSError) as exc:  # one damaged clip does not stop the rest
            log.warning("%s: cannot be read (%s); left out of the cache", video, exc)
            continue
        if len(rows["crops"]) == 0:  # no usable frame (the athlete out of view or too small throughout)
            log.warning("%s: no frame with a usable label; left out of the cache", video)
            continue
        for k in FIELDS:
            parts[k].append(rows[k])
        sources += [n] * len(rows["crops"])
        if progress is not None:
            progress(n + 1, len(videos))
    if not sources:
        raise LabelError(f"{data}: none of its {len(videos)} labeled clips could be cached")
    out.mkdir(parents=True, exist_ok=True)
    for k in FIELDS:
        np.save(out / f"{k}.tmp.npy", np.concatenate(parts[k]))
    np.save(out / "video.tmp.npy", np.asarray(sources, np.int32))
    for k in (*FIELDS, "video"):
        (out / f"{k}.tmp.npy").rename(out / f"{k}.npy")
    meta = {"side": side, "small": list(small), "frames": len(sources), "videos": [str(v) for v, _ in videos],
            "fingerprint": stamp, "fit": FIT}
    marker.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


class Cache:
    """Several built caches read as one: labels concatenated in memory, images memory-mapped per shard."""

    def __init__(self, folders: list[Path]) -> None:
        if not folders:
            raise LabelError("no training cache given")
        for folder in folders:
            if not (folder / "cache.json").is_file():
                raise LabelError(f"{folder}: no training cache (build it first)")
        self.names = [f.name for f in folders]
        self.images = [{k: np.load(f / f"{k}.npy", mmap_mode="r") for k in ("crops", "frames")} for f in folders]
        sizes = [len(part["crops"]) for part in self.images]
        self.offsets = np.cumsum([0, *sizes])
        self.labels = {k: np.concatenate([_load_labels(f, k) for f in folders]) for k in LABEL_FIELDS}
        # video ids made unique over shards, so held-out videos are whole videos of one shard
        self.labels["video"] = np.concatenate([np.load(f / "video.npy") + 100_000 * i for i, f in enumerate(folders)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def image_rows(self, key: str, rows: np.ndarray) -> np.ndarray:
        """(len(rows), H, W, 3) uint8 images of global ``rows``."""
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        return np.stack([self.images[s][key][r - self.offsets[s]] for s, r in zip(shard, rows)])


def _load_labels(folder: Path, key: str) -> np.ndarray:
    """One label array of a built cache; caches built before ``weight2d`` existed trust every joint."""
    path = folder / f"{key}.npy"
    if key == "weight2d" and not path.is_file():
        return np.ones(np.load(folder / "visible.npy", mmap_mode="r").shape, np.float32)
    return np.load(path)


def find_caches(root: Path) -> list[Path]:
    """``root`` if it is a built cache, else the built caches directly under it."""
    if (root / "cache.json").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "cache.json").is_file()) if root.is_dir() else []


def held_out_clips(root: Path, val_every: int) -> dict[str, list[tuple[Path, Path]]]:
    """Cache folder name -> the (video, labels) pairs that training holds out of the caches at or under ``root``:
    every ``val_every``-th video of each (``fit.split_rows``). Clips never trained on, to choose run-time settings
    without touching the bench."""
    groups = {}
    for folder in find_caches(root):
        videos = [Path(v) for v in json.loads((folder / "cache.json").read_text())["videos"]]
        held = videos[val_every - 1::val_every]
        datasets = {next((p for p in v.parents if (p / "manifest.json").is_file()), v.parent) for v in held}
        labels = {v.resolve(): lab for d in datasets for v, lab in _labeled_videos(d)}
        groups[folder.name] = [(v, labels[v.resolve()]) for v in held if v.resolve() in labels]
    return groups


def load_cache(root: Path) -> Cache:
    """Every built cache at or directly under ``root``."""
    folders = find_caches(root)
    if not folders:
        raise LabelError(f"{root}: no training cache (build it first)")
    return Cache(folders)


def sample_cache(source: Path, out: Path, rows: int, side: int, small: tuple[int, int], seed: int = 0) -> dict:
    """``rows`` random rows of the caches at or under ``source`` (whole world shards) written as one cache into
    ``out``: a replay set to mix into a fine-tuning, so the network keeps seeing the people and places it was
    trained on. Kept when ``out`` already holds the same draw; written through temp names like ``build_cache``.
    A source of other sizes than ``side`` px crops and ``small`` frames is refused before anything is read."""
    marker = out / "cache.json"
    caches = find_caches(source)
    first = json.loads((caches[0] / "cache.json").read_text()) if caches else None
    if first is not None and (first["side"] != side or tuple(first["small"]) != tuple(small)):
        raise LabelError(f"{source}: a cache of {first['small']} frames and {first['side']} px crops; "
                         f"this network trains on {list(small)} and {side}")
    src = load_cache(source)
    want = {"source": str(source.resolve()), "rows": int(min(rows, len(src))), "seed": seed}
    if marker.is_file():
        meta = json.loads(marker.read_text())
        if meta.get("sample") == want:
            return meta
        marker.unlink()
    pick = np.sort(np.random.default_rng(seed).choice(len(src), size=want["rows"], replace=False))
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"crops": src.image_rows("crops", pick), "frames": src.image_rows("frames", pick),
              **{k: src.labels[k][pick] for k in LABEL_FIELDS},
              "video": np.unique(src.labels["video"][pick], return_inverse=True)[1].astype(np.int32)}
    for k, a in arrays.items():
        np.save(out / f"{k}.tmp.npy", a)
    for k in arrays:
        (out / f"{k}.tmp.npy").rename(out / f"{k}.npy")
    meta = {"side": side, "small": list(small), "frames": int(len(pick)), "videos": [], "sample": want}
    marker.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _build_one(args: tuple[Path, Path, int, tuple[int, int]]) -> tuple[str, int, float]:
    import time

    data, out, side, small = args
    tic = time.perf_counter()
    meta = build_cache(data, out, side, small)
    return data.name, meta["frames"], time.perf_counter() - tic


def main(argv: list[str] | None = None) -> None:
    """Build one cache per dataset under ``data`` (each shard of a world) into ``out/<name>``, in parallel."""
    import argparse
    from multiprocessing import get_context

    from train.posenet.config import PoseNetConfig

    ap = argparse.ArgumentParser(description="cache labeled videos for pose-network training")
    ap.add_argument("data", type=Path, help="a dataset folder, or a folder of them (a world)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--side", type=int, default=CACHE_SIDE, help="pre-crop side in pixels")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    small = PoseNetConfig().detector_size
    datasets = [args.data] if (args.data / "manifest.json").is_file() else sorted(
        p for p in args.data.iterdir() if (p / "manifest.json").is_file())
    jobs = [(d, args.out / d.name, args.side, small) for d in datasets]
    with get_context("spawn").Pool(args.workers) as pool:
        for name, frames, seconds in pool.imap_unordered(_build_one, jobs):
            print(f"{name}: {frames} frames cached in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
