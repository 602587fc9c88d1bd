"""Per-video frame caches: every frame decoded once into a memory-mapped uint8 array at training size.

A cache is two files in the cache folder: ``<stem>-<key>.u8`` (raw ``(T, H, W, 3)`` RGB bytes) and
``<stem>-<key>.json`` (shape and source). The key hashes the video's resolved path, size, mtime and
the training size, so an edited video or a new resolution gets a new cache. The JSON is renamed into
place last: a cache without it is unfinished and is rebuilt, so a crash never leaves a half cache in use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from collections.abc import Callable

import numpy as np

from train.data.video_reader import INTERPOLATION, decode_frames
from tvstream.errors import SourceError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
ProgressFn = Callable[[int, int], None]
"""Called as ``progress(frames_done, frames_total)`` while a cache is built."""


def cache_key(video: str | os.PathLike, size: tuple[int, int]) -> str:
    """Name stem of the cache of ``video`` at ``size``; changes when the file or the size changes."""
    video = Path(video).resolve()
    stat = video.stat()
    ident = f"v{CACHE_VERSION}|{video}|{stat.st_size}|{stat.st_mtime_ns}|{size[0]}x{size[1]}|{INTERPOLATION}"
    return f"{video.stem}-{hashlib.sha1(ident.encode()).hexdigest()[:12]}"


def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{key}.u8", cache_dir / f"{key}.json"


def open_cache(video: str | os.PathLike, size: tuple[int, int], cache_dir: str | os.PathLike) -> np.memmap | None:
    """The finished cache of ``video`` at ``size`` as a read-only ``(T, H, W, 3)`` memmap, or None."""
    raw, meta = _paths(Path(cache_dir), cache_key(video, size))
    if not meta.is_file() or not raw.is_file():
        return None
    shape = tuple(json.loads(meta.read_text())["shape"])
    if raw.stat().st_size != int(np.prod(shape)):
        log.warning("%s: cache size does not match its header; rebuilding", raw)
        return None
    return np.memmap(raw, dtype=np.uint8, mode="r", shape=shape)


def build_cache(
    video: str | os.PathLike,
    size: tuple[int, int],
    cache_dir: str | os.PathLike,
    num_frames_hint: int = 0,
    progress: ProgressFn | None = None,
) -> np.memmap:
    """Decode every frame of ``video`` at ``size = (H, W)`` into the cache (if not there yet) and open it.

    Args:
        num_frames_hint: expected frame count, only for progress reports.
        progress: optional callback ``(done, total)``.
    """
    cache_dir = Path(cache_dir)
    cached = open_cache(video, size, cache_dir)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(video, size)
    raw, meta = _paths(cache_dir, key)
    tmp = raw.with_name(raw.name + f".{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "wb") as f:
            for frame in decode_frames(video, size):
                f.write(frame.tobytes())
                count += 1
                if progress is not None:
                    progress(count, max(num_frames_hint, count))
        if count == 0:
            raise SourceError(f"{video}: no decodable video frames")
        os.replace(tmp, raw)
    finally:
        tmp.unlink(missing_ok=True)
    meta_tmp = meta.with_name(meta.name + f".{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps({"shape": [count, size[0], size[1], 3], "video": str(Path(video).resolve()),
                                    "interpolation": INTERPOLATION, "version": CACHE_VERSION}))
    os.replace(meta_tmp, meta)
    log.info("cached %d frames of %s at %dx%d in %s", count, video, size[1], size[0], raw)
    return np.memmap(raw, dtype=np.uint8, mode="r", shape=(count, size[0], size[1], 3))
