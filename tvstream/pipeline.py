"""The per-frame pipeline: frames -> batches -> backend -> source pixels, foreground score, smoothing -> sink."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from tvstream.background import RollingBackground
from tvstream.overlay import draw_box, draw_skeleton
from tvstream.sinks import JsonlSink
from tvstream.smoothing import OneEuroFilter
from tvstream.sources import Frame, VideoSource
from tvstream.tracking import GravityBoxTracker
from tvstream.video_writer import VideoWriter

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunOptions:
    """How ``tvstream run`` processes a stream (CLI flags map onto these fields)."""

    batch: int = 1  # consecutive frames per inference call (throughput vs latency)
    smooth: bool = True  # One-Euro filter on every joint coordinate
    min_score: float = 0.05  # foreground evidence in the box below which `detected` is false
    render: str | None = None  # overlay video path
    scenario: str = "studio"  # "dive": gravity-aware box tracking


@dataclass
class RunStats:
    frames: int = 0
    dropped: int = 0
    errors: int = 0


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while batch := list(islice(frames, size)):
        yield batch


def to_source_pixels(points: np.ndarray, model_size: tuple[int, int], source_size: tuple[int, int]) -> np.ndarray:
    """(..., 2) pixel coordinates in the model's input frame -> the source's pixels (centres at integers)."""
    (mh, mw), (sh, sw) = model_size, source_size
    scale = np.array([sw / mw, sh / mh])
    return (points + 0.5) * scale - 0.5


def run_stream(source: VideoSource, backend, sink: JsonlSink, options: RunOptions,
               model_info: dict, progress: Progress | None = None) -> RunStats:
    """Process ``source`` to the end (or until it fails), writing one line per frame to ``sink``."""
    meta = backend.metadata
    model_size, source_size = meta.input_size, (source.height, source.width)
    sink.header(model_info, source.uri, source.width, source.height, source.fps)
    background = RollingBackground()
    filters = (OneEuroFilter(), OneEuroFilter(min_cutoff=1.0, beta=0.05))  # pose3d (mm), pose2d (px)
    tracker = GravityBoxTracker() if options.scenario == "dive" else None
    stats = RunStats()
    even_w, even_h = source.width // 2 * 2, source.height // 2 * 2  # H.264 needs even sizes
    writer = VideoWriter(options.render, even_w, even_h, source.fps or 25.0) if options.render else None
    try:
        for batch in _batches(source.frames(), options.batch):
            tic = time.perf_counter()
            out = backend.infer(np.stack([f.image for f in batch]))  # (N, H, W, 3) -> dict of (N, ...)
            for i, frame in enumerate(batch):
                box_model = out["box"][i]
                score = background.observe(frame.image, box_model)
                detected = score >= options.min_score
                box = to_source_pixels(box_model.reshape(2, 2), model_size, source_size).reshape(4)
                if tracker is not None and detected:
                    box = tracker(box, frame.t)
                pose3d, pose2d = out["pose3d"][i], to_source_pixels(out["pose2d"][i], model_size, source_size)
                if options.smooth and detected:
                    pose3d, pose2d = filters[0](pose3d, frame.t), filters[1](pose2d, frame.t)
                elif not detected:
                    for f in filters:
                        f.reset()
                latency = 1000 * (time.perf_counter() - tic)  # inference of its batch + post-processing so far
                sink.pose(frame.index, frame.t, detected, score, box, pose3d, pose2d, latency, frame.tc,
                          frame.dropped)
                stats.frames += 1
                stats.dropped += frame.dropped
                if writer is not None and frame.display is not None:
                    img = np.ascontiguousarray(frame.display[:even_h, :even_w])
                    if detected:
                        draw_box(img, box)
                        draw_skeleton(img, pose2d)
                    writer.write(img)
                if progress is not None:
                    progress(stats.frames)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    return stats

