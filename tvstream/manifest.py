"""Dataset manifests: which videos form a dataset, where their labels are, and how they split.

A manifest is ``manifest.json`` at a dataset's root (paths relative to it)::

    {"schema": "tvstream.manifest/1",
     "videos": [{"video": "videos/s1_walk_c0.mp4", "labels": "labels/s1_walk_c0.npz",
                 "subject": "s1", "sequence": "s1_walk", "camera": "c0", "split": "train"}]}

Synchronised cameras of a multi-view rig share ``sequence`` and the frame index. A plain folder of
videos works too (:func:`discover`): each video is its own sequence, and a label file with the same
stem (``clip.npz`` or ``clip.json`` beside ``clip.mp4``) is picked up.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Iterable

from tvstream.errors import LabelError
from tvstream.json_documents import read_document

MANIFEST_SCHEMA = "tvstream.manifest/1"
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "labeled", "val", "test")  # train = unlabeled footage; labeled = few-label pool
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".mxf", ".mpg", ".mpeg")


@dataclass(frozen=True)
class VideoEntry:
    """One video of a dataset: its file, optional labels, ids and split."""

    video: Path
    labels: Path | None = None
    subject: str = ""
    sequence: str = ""
    camera: str = "0"
    split: str = "train"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise LabelError(f"{self.video}: split {self.split!r} is not one of {', '.join(SPLITS)}")


def load_manifest(path: str | os.PathLike) -> list[VideoEntry]:
    """Read a manifest; paths inside are resolved against its folder. Raises LabelError on bad fields."""
    path = Path(path)
    doc = read_document(path, "manifest", MANIFEST_SCHEMA)
    if not isinstance(doc.get("videos"), list):
        raise LabelError(f"{path}: field 'videos' must be a list")
    root = path.parent
    entries = []
    for i, item in enumerate(doc["videos"]):
        if not isinstance(item, dict) or not isinstance(item.get("video"), str):
            raise LabelError(f"{path}: field 'videos[{i}].video' must be a path string")
        unknown = set(item) - {"video", "labels", "subject", "sequence", "camera", "split"}
        if unknown:
            raise LabelError(f"{path}: unknown field 'videos[{i}].{sorted(unknown)[0]}'")
        video = root / item["video"]
        entries.append(VideoEntry(
            video=video,
            labels=root / item["labels"] if item.get("labels") else None,
            subject=str(item.get("subject", "")),
            sequence=str(item.get("sequence", video.stem)),
            camera=str(item.get("camera", "0")),
            split=str(item.get("split", "train")),
        ))
    return entries


def write_manifest(path: str | os.PathLike, entries: Iterable[VideoEntry]) -> None:
    """Write entries as a manifest (paths relative to its folder), atomically."""
    path = Path(path)
    root = path.parent.resolve()

    def rel(p: Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), root)).as_posix()

    videos = []
    for e in entries:
        item = asdict(e)
        item["video"] = rel(e.video)
        item["labels"] = rel(e.labels) if e.labels else None
        videos.append(item)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"schema": MANIFEST_SCHEMA, "videos": videos}, indent=1) + "\n")
    os.replace(tmp, path)


def discover(root: str | os.PathLike) -> list[VideoEntry]:
    """Entries of a dataset folder: its ``manifest.json`` if present, else every video file below it.

    Raises LabelError if ``root`` is missing or holds no video.
    """
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".json":
            return load_manifest(root)
        return [_entry_for_video(root)]
    if not root.is_dir():
        raise LabelError(f"{root}: no such dataset folder or manifest")
    if (root / MANIFEST_NAME).is_file():
        return load_manifest(root / MANIFEST_NAME)
    videos = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not videos:
        raise LabelError(f"{root}: no videos found (looked for {', '.join(VIDEO_EXTENSIONS)})")
    return [_entry_for_video(v) for v in videos]


def _entry_for_video(video: Path) -> VideoEntry:
    labels = next((video.with_suffix(s) for s in (".npz", ".json") if video.with_suffix(s).is_file()), None)
    return VideoEntry(video=video, labels=labels, subject=video.parent.name, sequence=video.stem)
