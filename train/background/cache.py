"""Background caches: each video's background computed once per training size and kind, kept on disk.

A cache sits next to the frame caches as two files, ``<stem>-bg-<kind>-<key>.u8`` (raw uint8 bytes) and
``<stem>-bg-<kind>-<key>.json`` (shape, kind, source). The key hashes the frame cache's key (video's
resolved path, byte size, mtime, training size), the kind and :data:`CACHE_VERSION`, so an edited
video, a new size or kind, or a changed estimator gets a new cache. Both files are written under
temporary names and renamed into place, the JSON last: a cache without it is unfinished and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from train.background.diving import diving_background
from train.background.median import median_background
from train.background.panorama import panorama_background
from train.data.frame_cache import build_cache, cache_key

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # bump when an estimator's output changes, so old caches are not reused
KINDS = ("median", "diving", "panorama")


def background_key(video: str | os.PathLike, size: tuple[int, int], kind: str) -> str:
    """Name stem of the background cache of ``video`` at ``size = (H, W)`` for ``kind``."""
    _check_kind(kind)
    frames_key = cache_key(video, size)
    digest = hashlib.sha1(f"bg{CACHE_VERSION}|{frames_key}|{kind}".encode()).hexdigest()[:12]
    return f"{Path(video).stem}-bg-{kind}-{digest}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown background kind {kind!r}; expected one of {', '.join(KINDS)}")


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{key}.u8", cache_dir / f"{key}.json"


def open_background(video: str | os.PathLike, size: tuple[int, int], kind: str,
                    cache_dir: str | os.PathLike) -> np.ndarray | None:
    """The finished cached background (see :func:`background_for`), or None when there is none yet."""
    raw, meta = _paths(Path(cache_dir), background_key(video, size, kind))
    if not meta.is_file() or not raw.is_file():
        return None
    shape = tuple(json.loads(meta.read_text())["shape"])
    if raw.stat().st_size != int(np.prod(shape)):
        log.warning("%s: background cache size does not match its header; rebuilding", raw)
        return None
    if kind == "panorama":
        return np.memmap(raw, dtype=np.uint8, mode="r", shape=shape)  # (T, H, W, 3)
    return np.fromfile(raw, dtype=np.uint8).reshape(shape)  # (H, W, 3)


def _write_static(estimate: Callable[[Path, tuple[int, int]], np.ndarray]) -> Callable[..., tuple[int, ...]]:
    """A writer that stores one ``(H, W, 3)`` image computed by ``estimate(video, size)``."""
    def write(video: Path, size: tuple[int, int], cache_dir: Path, tmp: Path) -> tuple[int, ...]:
        image = np.ascontiguousarray(estimate(video, size), dtype=np.uint8)
        tmp.write_bytes(image.tobytes())
        return image.shape
    return write


def _write_panorama(video: Path, size: tuple[int, int], cache_dir: Path, tmp: Path) -> tuple[int, ...]:
    """Per-frame backgrounds ``(T, H, W, 3)`` written straight to disk; reads frames from the frame cache."""
    frames = build_cache(video, size, cache_dir)  # training needs this cache too, so it is not wasted work
    out = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=frames.shape)
    panorama_background(video, frames, out=out)
    out.flush()
    del out
    return frames.shape


# Looked up at call time (not bound at import), so tests can swap an estimator with monkeypatch.
_WRITERS: dict[str, Callable[[Path, tuple[int, int], Path, Path], tuple[int, ...]]] = {
    "median": lambda *args: _write_static(median_background)(*args),
    "diving": lambda *args: _write_static(diving_background)(*args),
    "panorama": lambda *args: _write_panorama(*args),
}


def background_for(video: str | os.PathLike, size: tuple[int, int], kind: str,
                   cache_dir: str | os.PathLike) -> np.ndarray:
    """The background of ``video`` at training ``size = (H, W)``, computed on the first call and cached.

    Args:
        kind: ``"median"`` or ``"diving"`` (static camera: uint8 ``(H, W, 3)``) or ``"panorama"``
            (panning camera: read-only memmap ``(T, H, W, 3)``, one background per frame).
        cache_dir: folder of the frame caches; the background cache goes there too.

    Raises ValueError for an unknown kind, SourceError when the video cannot be read.
    """
    _check_kind(kind)
    cache_dir = Path(cache_dir)
    cached = open_background(video, size, kind, cache_dir)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    raw, meta = _paths(cache_dir, background_key(video, size, kind))
    tmp = raw.with_name(raw.name + f".{os.getpid()}.tmp")
    try:
        shape = _WRITERS[kind](Path(video), (int(size[0]), int(size[1])), cache_dir, tmp)
        os.replace(tmp, raw)
    finally:
        tmp.unlink(missing_ok=True)
    meta_tmp = meta.with_name(meta.name + f".{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps({"shape": list(shape), "kind": kind, "video": str(Path(video).resolve()),
                                    "version": CACHE_VERSION}))
    os.replace(meta_tmp, meta)
    log.info("cached %s background of %s at %dx%d in %s", kind, video, size[1], size[0], raw)
    return open_background(video, size, kind, cache_dir)
