"""Speed against accuracy over model sizes (as MediaPipe's Lite / Full / Heavy): bench PCK and MPJPE vs ms/frame.

Run: ``python -m benchmarks.size_curve NAME=MODEL.onnx [NAME=MODEL.onnx ...] --bench data/bench [--mode pipeline]
[--name NAME]``; writes ``benchmarks/results/NAME.{json,md,png}`` (default ``size_curve``). Each model is scored on
the bench set alone (``--mode model``: the detector on every frame) or through ``tvstream run``'s pipeline
(``--mode pipeline``: the crop following the joints, each model with its own settings) and timed at batch 1 with
ONNX Runtime on this machine, all in one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.plotting import pyplot
from train.posenet.evaluate import bench_model, clip_groups
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"


def interleaved_ms(models: list[str], rounds: int, repeats: int = 30) -> list[float]:
    """Model-only ms/frame (batch 1, ONNX Runtime) of each of ``models``: they take turns for ``rounds`` rounds of
    ``repeats`` calls, and each keeps its least disturbed round's median. On a shared 2-core machine one median of 60
    calls per model, each in its own minute, put the same weights at 17.6 and 10.9 ms (session 48)."""
    from engines.backends import load_backend
    from train.posenet.evaluate import latency_ms

    backends = [load_backend(m, "onnxruntime") for m in models]
    best = [float("inf")] * len(models)
    for _ in range(rounds):
        for k, backend in enumerate(backends):
            best[k] = min(best[k], latency_ms(backend, repeats))
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", metavar="NAME=MODEL.onnx")
    ap.add_argument("--bench", type=Path, required=True)
    ap.add_argument("--speed-only", action="append", default=[], metavar="NAME=MODEL.onnx",
                    help="a size timed but not scored (e.g. not trained at the same budget)")
    ap.add_argument("--note", default="", help="a line under the table (e.g. how long each size trained)")
    ap.add_argument("--mode", choices=("model", "pipeline"), default="model",
                    help="score the model alone (detector on every frame) or through the run's pipeline")
    ap.add_argument("--name", default="size_curve", help="results file name (default size_curve)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds, the models taking turns (default 5)")
    args = ap.parse_args(argv)
    groups = clip_groups(args.bench, sample=True)
    rows = []
    for item in args.models:
        name, _, path = item.partition("=")
        r = bench_model(path, groups, args.mode)
        rows.append({"name": name, "model": path, "ms_per_frame": r["ms_per_frame"], "onnx_mb": r["onnx_bytes"] / 2**20,
                     "bench": r["groups"]["bench (all)"], "sample_ski": r["groups"]["sample_ski"]})
    for item in args.speed_only:
        name, _, path = item.partition("=")
        rows.append({"name": name, "model": path, "onnx_mb": Path(path).stat().st_size / 2**20, "bench": None,
                     "sample_ski": None})
    for row, ms in zip(rows, interleaved_ms([r["model"] for r in rows], args.rounds)):
        row["ms_per_frame"] = ms
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# Model sizes: speed against accuracy", "",
             f"Machine: {cpu_model()}; {time.strftime('%Y-%m-%d %H:%M')}. ms/frame: model only, batch 1, ONNX Runtime "
             f"on this CPU (the models taking turns for {args.rounds} rounds of 30 calls; each its best round's "
             "median). Bench: every bench clip, " + ("the model alone (detector on every frame)."
             if args.mode == "model" else "through `tvstream run`'s pipeline (each model with its own settings)."), "",
             "| size | ms/frame | ONNX MB | bench PCK@0.2 | bench MPJPE | bench P-MPJPE | box IoU | sample PCK@0.2 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b, s = r["bench"], r["sample_ski"]
        if b is None:
            lines.append(f"| {r['name']} | {r['ms_per_frame']:.2f} | {r['onnx_mb']:.1f} | not scored | | | | |")
            continue
        lines.append(f"| {r['name']} | {r['ms_per_frame']:.2f} | {r['onnx_mb']:.1f} | {b['pck']:.3f} | {b['mpjpe']:.1f} | "
                     f"{b['p_mpjpe']:.1f} | {b['box_iou']:.3f} | {s['pck']:.3f} |")
    if args.note:
        lines += ["", args.note]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for r in (r for r in rows if r["bench"] is not None):
            axes[0].plot(r["ms_per_frame"], r["bench"]["pck"], "o")
            axes[0].annotate(r["name"], (r["ms_per_frame"], r["bench"]["pck"]))
            axes[1].plot(r["ms_per_frame"], r["bench"]["mpjpe"], "o")
            axes[1].annotate(r["name"], (r["ms_per_frame"], r["bench"]["mpjpe"]))
        axes[0].set(xlabel="ms/frame (batch 1, CPU)", ylabel="bench PCK@0.2")
        axes[1].set(xlabel="ms/frame (batch 1, CPU)", ylabel="bench MPJPE (mm)")
        fig.tight_layout()
        fig.savefig(RESULTS / f"{args.name}.png", dpi=100)


if __name__ == "__main__":
    main()
