"""How fast the runtime is on one file: decode-only, model-only and end-to-end, measured in one process.

Decode-only drains the source (decoding + scaling to the model input, in its thread); model-only feeds
the backend the same frames already in memory; end-to-end is ``tvstream run`` writing to ``os.devnull``
(background, smoothing, JSON formatting included). Compare the three as ratios of one run: absolute
numbers move with whatever else the machine is doing. Each timing also records the CPU time the whole
process spent meanwhile (all threads), the cost of a stage independent of how many cores it spread over.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from tvstream.pipeline import RunOptions, run_stream
from tvstream.sinks import JsonlSink
from tvstream.sources import VideoSource


@dataclass(frozen=True)
class Timing:
    """Throughput and per-frame latency percentiles of one way of running."""

    frames: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float = 0.0  # process CPU time (all threads) over the same interval as ``seconds``

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": round(self.fps, 1)}


@dataclass(frozen=True)
class BenchResult:
    uri: str
    width: int
    height: int
    model_input: tuple[int, int]
    backend: str
    batch: int
    decode: Timing
    model: Timing
    end_to_end: Timing
    rss_mb: float  # peak resident memory of this process
    torch_imported: bool

    @property
    def overhead(self) -> float:
        """End-to-end time per frame over the slower of decode and model, minus 1 (0.1 = 10% overhead)."""
        limit = min(self.decode.fps, self.model.fps)
        return limit / self.end_to_end.fps - 1 if self.end_to_end.fps > 0 else float("inf")

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("decode", "model", "end_to_end")}
        return {**d, "decode": self.decode.to_dict(), "model": self.model.to_dict(),
                "end_to_end": self.end_to_end.to_dict(), "overhead": round(self.overhead, 3)}


def _timing(frames: int, seconds: float, latencies_ms: list[float], cpu_seconds: float) -> Timing:
    lat = np.asarray(latencies_ms) if latencies_ms else np.zeros(1)
    return Timing(frames, seconds, float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), cpu_seconds)


def time_decode(uri: str, size: tuple[int, int], max_frames: int | None) -> tuple[Timing, np.ndarray]:
    """Drain the source; returns the timing and up to 64 of its frames (the model-only input)."""
    kept, gaps, n = [], [], 0
    with VideoSource(uri, size) as src:
        cpu = time.process_time()
        tic = last = time.perf_counter()
        for frame in src.frames():
            now = time.perf_counter()
            gaps.append(1000 * (now - last))
            last = now
            if len(kept) < 64:
                kept.append(frame.image)
            n += 1
            if max_frames and n >= max_frames:
                break
        seconds = time.perf_counter() - tic
        cpu = time.process_time() - cpu
    return _timing(n, seconds, gaps, cpu), np.stack(kept)


def time_model(engine, frames: np.ndarray, batch: int, count: int) -> Timing:
    """``count`` frames through ``engine.infer`` in batches of ``batch`` (after one warm-up call)."""
    reps = -(-max(batch, 64) // len(frames))
    pool = np.concatenate([frames] * reps)
    engine.infer(pool[:batch])
    lat, done = [], 0
    cpu, tic = time.process_time(), time.perf_counter()
    while done < count:
        start = done % (len(pool) - batch + 1)
        t0 = time.perf_counter()
        engine.infer(pool[start:start + batch])
        lat.append(1000 * (time.perf_counter() - t0) / batch)
        done += batch
    return _timing(done, time.perf_counter() - tic, lat, time.process_time() - cpu)


class _Latencies(JsonlSink):
    """The ``os.devnull`` sink, remembering each frame's latency."""

    def __init__(self) -> None:
        super().__init__(os.devnull)
        self.latencies: list[float] = []

    def pose(self, *args, **kwargs) -> None:
        super().pose(*args, **kwargs)
        self.latencies.append(kwargs["latency_ms"])


def time_end_to_end(uri: str, engine, options: RunOptions, finder=None) -> Timing:
    """``tvstream run`` of ``uri`` into ``os.devnull``: the whole path, JSON formatting included (``finder``: the
    second look's search in squares, as ``run`` opens it, ``tvstream.api.open_finder``)."""
    with VideoSource(uri, engine.metadata.input_size, keep_aspect=engine.metadata.keeps_aspect) as src, \
            _Latencies() as sink:
        cpu, tic = time.process_time(), time.perf_counter()
        stats = run_stream(src, engine, sink, options, {"name": "bench"}, finder=finder)
        seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
        sink.end(stats.frames)
    return _timing(stats.frames, seconds, sink.latencies, cpu)


def benchmark(uri: str, engine, batch: int = 1, max_frames: int | None = None) -> BenchResult:
    """All three timings of ``uri`` with ``engine`` (an opened backend)."""
    size = engine.metadata.input_size
    decode, frames = time_decode(uri, size, max_frames)
    model = time_model(engine, frames, batch, decode.frames)
    e2e = time_end_to_end(uri, engine, RunOptions(batch=batch, max_frames=max_frames))
    with VideoSource(uri, size) as src:
        width, height = src.width, src.height
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return BenchResult(uri, width, height, tuple(size), engine.name, batch, decode, model, e2e, round(rss, 1),
                       "torch" in sys.modules)
