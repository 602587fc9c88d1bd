"""Teacher labels for a clip: one ``tvstream.handlabels/1`` JSON per clip, cached, resumable.

The file (``clip.json`` beside ``clip.mp4`` by default, where dataset folders pick it up) holds, besides the
hand-label fields every loader reads::

    {"schema": "tvstream.handlabels/1", "video": "clip.mp4", "sequence": "clip", "joints": [17 names],
     "video_hash": "...", "teacher": {"name", "version", "mediapipe", "model", "model_sha256"},
     "every": 1, "max_frames": null, "visible_threshold": 0.5, "width": 640, "height": 360,
     "counts": {"frames": 250, "found": 240},
     "frames": [{"frame": 0, "found": true, "joints2d": 17x[u, v] px, "confidence": 17 in [0, 1],
                 "visible": 17 bools (confidence >= visible_threshold), "box": [x0, y0, x1, y1] px,
                 "joints3d_teacher": 17x[x, y, z] mm root-relative camera axes, or null},
                {"frame": 1, "found": false}, ...]}

``joints3d_teacher`` is MediaPipe's own 3D guess (see :func:`tvstream.teacher.mapping.world_to_camera_mm`),
kept apart from ``joints3d`` (measured 3D) so nothing trains on it as ground truth by accident.

Cache: a file whose ``video_hash``, ``teacher.version``, ``every`` and ``max_frames`` match is kept as is.
Resume: frames are appended to ``clip.partial.jsonl`` (a header line, then one frame per line) as the
teacher streams them; a rerun continues after the last frame there, and the JSON replaces it at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tvstream.errors import SourceError, TeacherError, TvstreamError
from tvstream.json_documents import write_text_atomic
from tvstream.labels import HANDLABELS_SCHEMA, box_from_joints
from tvstream.skeleton import H36M_17
from tvstream.teacher.mapping import joint_confidence, to_h36m, world_to_camera_mm
from tvstream.teacher.runner import Teacher

Progress = Callable[[Path, int, "int | None"], None]  # (clip, frames done, frames expected or None)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LabelConfig:
    """How a clip is labeled (what ``tvstream label`` flags set)."""

    every: int = 1  # label stream indices divisible by N (the teacher tracks across the frames it sees)
    max_frames: int | None = None  # stop after N labeled frames (quick looks, tests)
    visible_threshold: float = 0.5  # confidence at which a joint counts as visible: MediaPipe's drawing default

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {self.max_frames}")
        if not 0.0 <= self.visible_threshold <= 1.0:
            raise ValueError(f"visible_threshold must be in [0, 1], got {self.visible_threshold}")


@dataclass(frozen=True)
class LabelResult:
    """What labeling one clip did: its output, frame counts, and whether it came from the cache."""

    clip: Path
    out: Path
    frames: int
    found: int
    cached: bool
    resumed_from: int | None = None  # frames already in the partial file when this run started


def video_hash(path: str | os.PathLike) -> str:
    """A cheap content hash of a video file: sha256 of its size, first MiB and last MiB."""
    path = Path(path)
    try:
        size = path.stat().st_size
        h = hashlib.sha256(str(size).encode())
        with open(path, "rb") as f:
            h.update(f.read(_HASH_CHUNK))
            f.seek(max(size - _HASH_CHUNK, 0))
            h.update(f.read(_HASH_CHUNK))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    return h.hexdigest()


def output_path(clip: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Where the labels of ``clip`` go: ``clip.json`` beside it, or ``out_dir/clip.json``."""
    clip = Path(clip)
    return (Path(out_dir) / clip.name if out_dir is not None else clip).with_suffix(".json")


def partial_path(out: Path) -> Path:
    return out.with_name(out.stem + ".partial.jsonl")


def frame_record(msg: dict, visible_threshold: float) -> dict:
    """One worker frame message -> one label-file frame (``{"frame", "found": false}`` when nobody)."""
    index = int(msg["frame"])
    if msg.get("landmarks") is None:
        return {"frame": index, "found": False}
    marks = np.asarray(msg["landmarks"], np.float32)[None]  # (1, 33, 4): x px, y px, z, visibility
    joints2d = to_h36m(marks[..., :2])[0]  # (17, 2)
    confidence = joint_confidence(marks[..., 3])[0]  # (17,)
    visible = confidence >= visible_threshold
    world = None
    if msg.get("world") is not None:
        world = world_to_camera_mm(np.asarray(msg["world"], np.float32)[None, :, :3])[0]  # (17, 3) mm
    return {"frame": index, "found": True, "joints2d": _rounded(joints2d, 2), "confidence": _rounded(confidence, 4),
            "visible": visible.tolist(), "box": _rounded(box_from_joints(joints2d, visible), 2),
            "joints3d_teacher": None if world is None else _rounded(world, 1)}


def _rounded(a: np.ndarray, decimals: int) -> list:
    """Nested lists of short decimals (float64 first: a rounded float32 prints as 0.20000000298...)."""
    return np.round(a.astype(np.float64), decimals).tolist()


def _cache_key(clip: Path, teacher: Teacher, cfg: LabelConfig) -> dict:
    return {"video_hash": video_hash(clip), "teacher_version": teacher.version, "every": cfg.every,
            "max_frames": cfg.max_frames}


def _existing_key(out: Path) -> dict | None:
    """The cache key of a finished label file at ``out``; None when there is none or it is unreadable."""
    try:
        doc = json.loads(out.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    if "teacher" not in doc:
        raise TeacherError(f"{out} holds hand labels, not a teacher's: label into another folder (--out)")
    return {"video_hash": doc.get("video_hash"), "teacher_version": doc["teacher"].get("version"),
            "every": doc.get("every"), "max_frames": doc.get("max_frames"), "counts": doc.get("counts", {})}


def _read_partial(path: Path, key: dict) -> tuple[dict | None, list[dict]]:
    """The partial file's header and whole frame lines when it was made with ``key``; (None, []) otherwise."""
    try:
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
    except (OSError, IndexError, json.JSONDecodeError):
        return None, []
    if not isinstance(header, dict) or {k: header.get(k) for k in key} != key:
        return None, []
    records = []
    for line in lines[1:]:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # torn by a crash while writing: that frame is labeled again
    return header, records


def _write_partial(path: Path, header: dict, records: list[dict]) -> None:
    """Start ``path`` over with ``header`` and ``records`` (drops a torn last line before appending)."""
    write_text_atomic(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in [header, *records]))


def _expected(num_frames: int | None, cfg: LabelConfig) -> int | None:
    """Frames a whole run labels: every N-th of the clip's, at most ``max_frames``; None when unknown."""
    total = math.ceil(num_frames / cfg.every) if num_frames else None
    if cfg.max_frames:
        total = min(total, cfg.max_frames) if total else cfg.max_frames
    return total


def _write_labels(out: Path, clip: Path, header: dict, teacher: Teacher, cfg: LabelConfig,
                  records: list[dict]) -> None:
    """The finished label file, written atomically (temp file, then rename)."""
    frames = sorted({r["frame"]: r for r in records}.values(), key=lambda r: r["frame"])
    doc = {"schema": HANDLABELS_SCHEMA, "video": clip.name, "sequence": clip.stem, "joints": list(H36M_17.names),
           "video_hash": header["video_hash"], "teacher": teacher.describe(), "every": cfg.every,
           "max_frames": cfg.max_frames, "visible_threshold": cfg.visible_threshold, "width": header.get("width"),
           "height": header.get("height"),
           "counts": {"frames": len(frames), "found": sum(1 for r in frames if r["found"])}, "frames": frames}
    write_text_atomic(out, json.dumps(doc, separators=(",", ":")) + "\n")


def label_clip(clip: str | os.PathLike, teacher: Teacher, out: str | os.PathLike | None = None,
               cfg: LabelConfig = LabelConfig(), progress: Progress | None = None) -> LabelResult:
    """Label ``clip`` with ``teacher`` into ``out`` (default :func:`output_path`); cached and resumable.

    Raises SourceError when the clip cannot be read and TeacherError when the teacher fails on it (the frames
    it did label stay in the partial file for the next run).
    """
    clip = Path(clip)
    out = Path(out) if out is not None else output_path(clip)
    if not clip.is_file():
        raise SourceError(f"{clip}: no such video file")
    key = _cache_key(clip, teacher, cfg)
    existing = _existing_key(out) if out.is_file() else None
    if existing is not None and {k: existing[k] for k in key} == key:
        counts = existing["counts"]
        return LabelResult(clip, out, counts.get("frames", 0), counts.get("found", 0), cached=True)

    partial = partial_path(out)
    header, records = _read_partial(partial, key)
    resumed = len(records) if header is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    if header is not None:
        _write_partial(partial, header, records)
    remaining = cfg.max_frames - len(records) if cfg.max_frames else None
    if remaining is None or remaining > 0:
        start = records[-1]["frame"] + 1 if records else 0
        total = None
        with open(partial, "a" if header is not None else "w") as f:
            for msg in teacher.frames(clip, start, cfg.every, remaining):
                if msg.get("type") == "header":
                    total = _expected(msg.get("num_frames"), cfg)
                    if header is None:
                        header = {**key, "width": msg.get("width"), "height": msg.get("height")}
                        f.write(json.dumps(header) + "\n")
                elif msg.get("type") == "frame":
                    records.append(frame_record(msg, cfg.visible_threshold))
                    f.write(json.dumps(records[-1], separators=(",", ":")) + "\n")
                    f.flush()
                    if progress is not None:
                        progress(clip, len(records), total)
    if header is None:
        raise TeacherError(f"{clip}: teacher {teacher.spec.name} sent no header")
    _write_labels(out, clip, header, teacher, cfg, records)
    partial.unlink(missing_ok=True)
    found = sum(1 for r in records if r["found"])
    return LabelResult(clip, out, len(records), found, cached=False, resumed_from=resumed)


def label_clips(clips: Sequence[str | os.PathLike], teacher: Teacher, out_dir: str | os.PathLike | None = None,
                cfg: LabelConfig = LabelConfig(), progress: Progress | None = None
                ) -> tuple[list[LabelResult], list[tuple[Path, TvstreamError]]]:
    """Label each clip in turn; a clip that fails is reported and the others go on.

    Returns ``(results, failures)``: failures are ``(clip, error)`` with a one-line message.
    """
    results, failures = [], []
    for clip in clips:
        try:
            results.append(label_clip(clip, teacher, output_path(clip, out_dir), cfg, progress))
        except TvstreamError as exc:
            failures.append((Path(clip), exc))
    return results, failures
