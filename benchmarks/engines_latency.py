"""Model-only latency and throughput of the exported per-frame graph: ONNX Runtime (CPU) vs torch eager.

Targets (issue 8): ORT CPU latency at batch 1 and throughput at batch 8 for the `small` model on the
2-core dev machine; ORT >= 3x faster than torch eager at batch 1.
Run: ``python -m benchmarks.engines_latency``; writes ``benchmarks/results/engines_latency.{json,md}``.
Weights are random (speed does not depend on them).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"


def _time(backend, frames: np.ndarray, repeats: int) -> list[float]:
    backend.infer(frames)  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        backend.infer(frames)
        times.append(time.perf_counter() - tic)
    return times


def main() -> None:
    import torch

    from engines.backends import load_backend
    from engines.export import export_onnx
    from train.checkpoint import save_checkpoint
    from train.models.config import MODEL_PRESETS
    from train.models.ssl_model import SSLModel

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in ("small",):
            cfg = MODEL_PRESETS[size]
            torch.manual_seed(0)
            ckpt = save_checkpoint(Path(tmp) / f"{size}.pt", config={"variant": "Ours"}, step=0,
                                   model=SSLModel(cfg), extra={"model_config": cfg.to_dict()})
            onnx_path = Path(tmp) / f"{size}.onnx"
            export_onnx(ckpt, onnx_path)
            h, w = cfg.frame_size
            for name, options in (("onnxruntime", {"threads": 2}), ("torch", {"device": "cpu"})):
                backend = load_backend(onnx_path, name, **options)
                for batch in (1, 8):
                    frames = np.random.default_rng(0).integers(0, 255, (batch, h, w, 3), dtype=np.uint8)
                    t = _time(backend, frames, 20 if batch == 1 else 8)
                    rows.append({"model": size, "backend": name, "batch": batch, "input": f"{w}x{h}",
                                 "p50_ms": 1000 * float(np.median(t)), "p99_ms": 1000 * float(np.percentile(t, 99)),
                                 "frames_per_s": batch / float(np.median(t))})
                backend.close()
    ort1 = next(r for r in rows if r["backend"] == "onnxruntime" and r["batch"] == 1)["p50_ms"]
    torch1 = next(r for r in rows if r["backend"] == "torch" and r["batch"] == 1)["p50_ms"]
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d"),
              "rows": rows, "torch_over_ort_batch1": torch1 / ort1, "goal_ratio": 3.0}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engines_latency.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Exported model, model-only latency (CPU)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores); {result['date']}. "
             "Full per-frame graph (detector, crop, encoder, regressor); random weights.", "",
             "| model | backend | input | batch | p50 ms | p99 ms | frames/s |", "|---|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['backend']} | {r['input']} | {r['batch']} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['frames_per_s']:.0f} |" for r in rows]
    ratio = result["torch_over_ort_batch1"]
    lines += ["", f"torch eager / ONNX Runtime at batch 1: {ratio:.2f}x (goal >= 3x: "
              f"**{'met' if ratio >= 3 else 'MISSED'}**)."]
    (RESULTS / "engines_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
