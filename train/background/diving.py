"""Diving: the diver falls from the top of the frame to the bottom, so the first frame's bottom half and
the last frame's top half show no diver (paper S.1, "Background Estimation")."""

from __future__ import annotations

import os

import numpy as np

from train.data.video_reader import FrameReader, probe_video


def diving_from_frames(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Top half of ``last`` over the bottom half of ``first``, both ``(H, W, 3)``; returns ``(H, W, 3)``.

    For an odd height the middle row comes from ``first`` (rows ``H // 2`` and below).
    """
    if first.shape != last.shape or first.ndim != 3:
        raise ValueError(f"first and last must be (H, W, C) images of one shape, got {first.shape} and {last.shape}")
    split = first.shape[0] // 2
    background = first.copy()
    background[:split] = last[:split]
    return background


def diving_background(video: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """Diving background of ``video`` at ``size = (H, W)``: uint8 ``(H, W, 3)``.

    Raises SourceError when the video cannot be read.
    """
    info = probe_video(video)
    with FrameReader(info, size) as reader:
        first, last = reader.read_many(np.array([0, info.num_frames - 1]))  # (2, H, W, 3)
    return diving_from_frames(first, last)
