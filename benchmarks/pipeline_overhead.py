"""What the pipeline itself costs per frame, next to the model: post-processing, smoothing, JSON, writing.

Target (issue 11): pipeline overhead <= 15% of model time. The frames are decoded first and the model's
outputs recorded, then ``run_stream`` is replayed over them with a backend that returns the recorded
outputs: what remains is the pipeline's own Python (foreground score, box and joint mapping, One-Euro
filters, the JSON line and its write to a file). A cProfile of the replay is written beside the report.

Run: ``python -m benchmarks.pipeline_overhead [--clip C] [--frames N] [--batch B]``; writes
``benchmarks/results/pipeline_overhead.{json,md}`` and ``pipeline_overhead_profile.txt``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

from tvstream.api import DEFAULT_MODEL, open_model
from tvstream.pipeline import RunOptions, run_stream
from tvstream.sinks import JsonlSink
from tvstream.sources import VideoSource
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
SAMPLE = Path(__file__).parents[1] / "examples" / "sample_ski.mp4"
TARGET = 0.15


class RecordedSource:
    """Frames decoded beforehand, served like a file ``VideoSource``."""

    def __init__(self, frames: list, width: int, height: int, fps: float, uri: str, fit) -> None:
        self._frames, self.width, self.height, self.fps, self.uri, self.fit = frames, width, height, fps, uri, fit

    def frames(self, stop=None):
        return iter(self._frames)


class ReplayBackend:
    """Returns the recorded outputs of a real backend, batch after batch."""

    def __init__(self, metadata, outputs: list[dict]) -> None:
        self.metadata, self._outputs, self._next = metadata, outputs, 0

    def infer(self, images: np.ndarray, track: np.ndarray | None = None) -> dict:
        out = self._outputs[self._next % len(self._outputs)]
        self._next += 1
        return out


def measure(clip: Path, frames: int, batch: int, repeats: int = 5) -> tuple[dict, str]:
    backend, _ = open_model(None)
    size = backend.metadata.input_size
    with VideoSource(str(clip), size) as source:
        decoded = [f for _, f in zip(range(frames), source.frames())]
        recorded = RecordedSource(decoded, source.width, source.height, source.fps, str(clip), source.fit)
    batches = [decoded[i:i + batch] for i in range(0, len(decoded), batch)]
    stacks = [np.stack([f.image for f in b]) for b in batches]
    outputs = [backend.infer(s) for s in stacks]  # warm-up and the outputs to replay
    model_s = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for s in stacks:
            backend.infer(s)
        model_s.append(time.perf_counter() - tic)
    replay = ReplayBackend(backend.metadata, outputs)
    options = RunOptions(batch=batch)
    pipeline_s = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            replay._next = 0
            sink = JsonlSink(Path(tmp) / "poses.jsonl")
            tic = time.perf_counter()
            run_stream(recorded, replay, sink, options, {"name": "replay"})
            sink.close()
            pipeline_s.append(time.perf_counter() - tic)
        profiler = cProfile.Profile()
        sink = JsonlSink(Path(tmp) / "profiled.jsonl")
        replay._next = 0
        profiler.enable()
        run_stream(recorded, replay, sink, options, {"name": "replay"})
        profiler.disable()
        sink.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
    n = len(decoded)
    model_ms, pipe_ms = 1000 * float(np.median(model_s)) / n, 1000 * float(np.median(pipeline_s)) / n
    return {"clip": clip.name, "frames": n, "batch": batch, "source_size": [source.width, source.height],
            "model_ms_per_frame": model_ms, "pipeline_ms_per_frame": pipe_ms, "overhead_ratio": pipe_ms / model_ms,
            "repeats": repeats}, text.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=SAMPLE)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args(argv)
    rows, profile = [], ""
    for b in args.batch:
        row, text = measure(args.clip, args.frames, b)
        rows.append(row)
        profile += f"==== batch {b}\n{text}\n"
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
              "model": str(DEFAULT_MODEL.name), "rows": rows, "target_ratio": TARGET}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline_overhead.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "pipeline_overhead_profile.txt").write_text(profile)
    worst = max(r["overhead_ratio"] for r in rows)
    lines = ["# Pipeline overhead per frame vs model time (CPU)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores); {result['date']}. "
             "Default model (ONNX Runtime); frames decoded beforehand; the pipeline replayed over the model's "
             "recorded outputs, writing JSON lines to a file; median of 5.", "",
             "| clip | batch | frames | model ms/frame | pipeline ms/frame | pipeline / model |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['clip']} ({r['source_size'][0]}x{r['source_size'][1]}) | {r['batch']} | {r['frames']} | "
              f"{r['model_ms_per_frame']:.3f} | {r['pipeline_ms_per_frame']:.3f} | {r['overhead_ratio']:.2f} |"
              for r in rows]
    lines += ["", f"Target: pipeline overhead <= {TARGET:.0%} of model time: "
              f"**{'met' if worst <= TARGET else 'MISSED'}** (worst {worst:.0%}). "
              "Profile: `pipeline_overhead_profile.txt` (cProfile, by own time)."]
    (RESULTS / "pipeline_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
