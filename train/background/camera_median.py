"""Fixed multi-view rigs (Human3.6M-style studios): one background per camera, the median over *all* its videos.

A subject who squats in place stays in every frame of that video, so a per-video median keeps them in the
background. Across many takes filmed by the same fixed camera the athletes stand in different places,
and the per-pixel median over all of them is the empty venue.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.background.median import median_of_frames, spread_indices
from train.data.frame_cache import cache_key
from train.data.video_reader import FrameReader, probe_video

MAX_FRAMES = 120  # spread over all the camera's videos


def camera_median_background(videos: Sequence[str | os.PathLike], size: tuple[int, int],
                             max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Per-pixel median over frames spread across ``videos`` (all from one fixed camera): uint8 ``(H, W, 3)``."""
    if not videos:
        raise ValueError("need at least one video")
    per_video = max(1, max_frames // len(videos))
    frames = []
    for video in videos:
        info = probe_video(video)
        with FrameReader(info, size) as reader:
            frames.append(reader.read_many(spread_indices(info.num_frames, per_video)))  # (n, H, W, 3)
    return median_of_frames(np.concatenate(frames))


def camera_background_for(videos: Sequence[str | os.PathLike], size: tuple[int, int],
                          cache_dir: str | os.PathLike) -> np.ndarray:
    """:func:`camera_median_background`, cached in ``cache_dir`` under a key of all the videos' cache keys."""
    key = hashlib.sha1("|".join(sorted(cache_key(v, size) for v in videos)).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"camera-bg-{key}-{size[0]}x{size[1]}.npy"
    if path.is_file():
        return np.load(path)
    background = camera_median_background(videos, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, background)
    os.replace(tmp, path)
    return background
