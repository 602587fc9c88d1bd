"""Where an exported model's time goes inside ONNX Runtime: per op type and per part of the graph.

ONNX Runtime's own profiler (``SessionOptions.enable_profiling``) times every node of the optimised graph. A
model with a ``track`` input is profiled twice: on a tracked frame (the crop placed by the runtime, the person
detector's ``If`` branch skipped) and on a detector frame. Kernel times are summed by op type (``Conv``, ``Pad``,
the layout ``Reorder*`` nodes ORT inserts around ops without a blocked layout ...) and by graph part (the first
three levels of a node's scope name, e.g. ``/net/head``); an ``If`` node's own time includes its branch's nodes,
which are listed too, so it is left out of the shares. Session 30 found 28 unfused ``Pad`` nodes this way (15% of
a tracked frame, plus reorders around them).

Run: ``python -m benchmarks.graph_profile [--model M.onnx] [--calls N] [--threads T]``; writes
``benchmarks/results/graph_profile.{md,json}`` (``--out`` for another name).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
TOP = 12  # rows per table
WARM_UP = 3  # calls run before the counted ones


def _frames(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """One uint8 working frame of noise (timings do not depend on the picture, only on its size)."""
    return np.random.default_rng(seed).integers(0, 256, (1, *size, 3), dtype=np.uint8)


def _part(name: str) -> str:
    return "/".join(name.split("/")[:3]) if name.startswith("/") else name.split("_token")[0]


def profile_graph(model: str | os.PathLike, track: list[float] | None, calls: int = 30,
                  threads: int = 1) -> dict:
    """Kernel time of ``calls`` runs of ``model`` (after :data:`WARM_UP` runs) on a noise frame, with ``track`` as the
    track row (None: a model without that input): ``{"ms_per_call", "ops": {op: share}, "parts": {part: share}}``,
    shares of the summed kernel time, largest first; ``ms_per_call`` is that sum per call."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in session.get_inputs()}
        frame_input = next(i for i in inputs.values() if i.type == "tensor(uint8)")
        feed = {frame_input.name: _frames(tuple(frame_input.shape[1:3]))}
        if track is not None:
            feed["track"] = np.asarray([track], np.float32)
        for _ in range(WARM_UP + calls):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    start = runs[WARM_UP]  # the warm-up calls' nodes (first allocations) are not counted
    ops: collections.Counter = collections.Counter()
    parts: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time") or event["ts"] < start:
            continue
        op = event["args"]["op_name"]
        if op == "If":
            continue  # its branch's nodes are timed on their own
        ops[op] += event["dur"]
        parts[_part(event["name"].rsplit("_kernel_time", 1)[0])] += event["dur"]
    total = sum(ops.values()) or 1
    return {"ms_per_call": total / calls / 1000.0,
            "ops": {k: v / total for k, v in ops.most_common()},
            "parts": {k: v / total for k, v in parts.most_common()}}


def _table(title: str, shares: dict[str, float]) -> list[str]:
    rows = [f"| {title} | share |", "|---|---:|"]
    rows += [f"| `{k}` | {v:.3f} |" for k, v in list(shares.items())[:TOP]]
    return rows


def main(argv: list[str] | None = None) -> dict:
    from engines.backends import load_backend
    from tvstream.api import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="an exported .onnx (default: the embedded model)")
    ap.add_argument("--calls", type=int, default=30, help="profiled calls per kind of frame")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (the CLI's default "
                                                            "on 2 cores is 1)")
    ap.add_argument("--out", default=str(RESULTS / "graph_profile"), help="results path without extension")
    args = ap.parse_args(argv)
    model = resolve_model(args.model)
    meta = load_backend(model, "onnxruntime").metadata
    kinds = {"frame": None}
    if "track" in meta.inputs:  # a crop the runtime places (normalised box), and one the detectors place
        columns = meta.track_columns
        kinds = {"tracked frame": [1.0, 0.0, 0.0, 0.15, 0.35] + [0.0] * (columns - 5),
                 "detector frame": [0.0] * columns}
    result = {"model": os.path.relpath(model), "hash": meta.model_hash, "machine": cpu_model(), "threads": args.threads,
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "frames": {kind: profile_graph(model, track, args.calls, args.threads) for kind, track in kinds.items()}}
    lines = ["# Where the model's time goes inside ONNX Runtime", "",
             f"{result['date']}, {result['machine']}, {args.threads} thread(s), {args.calls} calls per kind of frame "
             f"(`benchmarks/graph_profile.py`). Model `{os.path.relpath(model)}` (hash {meta.model_hash}). Shares of the summed kernel "
             "time (ORT's profiler; an `If` node's time is its branch's nodes, listed on their own).", ""]
    for kind, r in result["frames"].items():
        lines += [f"## {kind}: {r['ms_per_call']:.2f} ms of kernels per call", "", *_table("op type", r["ops"]), "",
                  *_table("graph part", r["parts"]), ""]
    Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
