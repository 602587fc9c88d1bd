"""Static camera: the background is the per-pixel median over frames spread through the video (paper S.1)."""

from __future__ import annotations

import os

import numpy as np

from train.data.video_reader import FrameReader, probe_video

# The paper takes all frames; ~100 spread evenly give the same median for a subject that keeps moving,
# at a fraction of the decoding cost and memory (100 x 640x360 RGB = 69 MB).
DEFAULT_MAX_FRAMES = 100


def median_of_frames(frames: np.ndarray) -> np.ndarray:
    """Per-pixel median of ``frames (N, H, W, 3)`` uint8 as uint8 ``(H, W, 3)``."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (N, H, W, 3) with N >= 1, got shape {frames.shape}")
    median = np.median(frames, axis=0)  # (N, H, W, 3) -> (H, W, 3) float, halves for even N
    return np.round(median).astype(np.uint8)


def spread_indices(num_frames: int, max_frames: int) -> np.ndarray:
    """Up to ``max_frames`` distinct frame indices spread evenly over ``0..num_frames-1``, first and last included."""
    if num_frames <= 0 or max_frames <= 0:
        raise ValueError(f"need num_frames and max_frames > 0, got {num_frames} and {max_frames}")
    return np.unique(np.round(np.linspace(0, num_frames - 1, min(num_frames, max_frames))).astype(np.int64))


def median_background(video: str | os.PathLike, size: tuple[int, int],
                      max_frames: int = DEFAULT_MAX_FRAMES) -> np.ndarray:
    """Median background of a static-camera ``video`` at ``size = (H, W)``: uint8 ``(H, W, 3)``.

    Raises SourceError when the video cannot be read.
    """
    info = probe_video(video)
    with FrameReader(info, size) as reader:
        frames = reader.read_many(spread_indices(info.num_frames, max_frames))  # (N, H, W, 3)
    return median_of_frames(frames)
