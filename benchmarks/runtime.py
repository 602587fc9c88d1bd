"""The runtime against its limits: decode-only, model-only and end-to-end fps on one clip, in one process.

Run: ``python -m benchmarks.runtime [--model M.onnx] [--clip FILE]``; writes
``benchmarks/results/runtime.{json,md}``. Default: the embedded model on ``examples/sample_ski.mp4``
(640x360), ONNX Runtime, batch 1 and 8; every configuration is measured ``--repeats`` times and the
median run (by end-to-end fps) is reported. torch is never imported (checked and reported).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.provenance import save
from benchmarks.runtime_scaling import measure_process
from tvstream.api import open_model
from tvstream.bench import BenchResult, benchmark
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"
TARGETS = {"e2e_over_limit": 0.85, "e2e_fps_640x360": 200.0, "rss_mb": 500.0}


def _median_run(runs: list[BenchResult]) -> BenchResult:
    return sorted(runs, key=lambda r: r.end_to_end.fps)[len(runs) // 2]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="exported .onnx (default: the embedded model)")
    ap.add_argument("--clip", default=os.path.relpath(SAMPLE))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all cores but one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "runtime"), help="results path without extension")
    args = ap.parse_args(argv)

    engine, info = open_model(args.model, "onnxruntime", args.threads)
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        best = _median_run([benchmark(args.clip, engine, batch) for _ in range(args.repeats)])
        rows.append(best.to_dict())
        print(f"batch {batch}: decode {best.decode.fps:.0f} fps, model {best.model.fps:.0f} fps, "
              f"end-to-end {best.end_to_end.fps:.0f} fps (overhead {100 * best.overhead:.0f}%)", file=sys.stderr)
    engine.close()
    process = measure_process(args.model, args.clip, args.threads, None)  # one real `tvstream run`: RSS, start-up
    top = max(rows, key=lambda r: r["end_to_end"]["fps"])
    limit = min(top["decode"]["fps"], top["model"]["fps"])
    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": {**info, "path": str(args.model or "embedded default")}, "clip": args.clip,
        "threads": args.threads, "repeats": args.repeats, "rows": rows, "targets": TARGETS,
        "best": {"batch": top["batch"], "e2e_fps": top["end_to_end"]["fps"],
                 "e2e_over_limit": round(top["end_to_end"]["fps"] / limit, 3),
                 "rss_mb": process["rss_mb"], "startup_s": process["startup_s"],
                 "torch_imported": any(r["torch_imported"] for r in rows)},
    }
    save(Path(args.out), result, report(result))
    return result


def report(result: dict) -> str:
    b, t = result["best"], result["targets"]
    ok = lambda good: "met" if good else "**MISSED**"  # noqa: E731
    lines = ["# Runtime: decode-only, model-only, end-to-end (CPU)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores); {result['date']}. "
             f"Model: {result['model']['path']} (hash {result['model']['hash']}, {result['model']['backend']}, "
             f"threads {result['threads'] or 'all but one'}). Clip: {result['clip']}. "
             f"Median of {result['repeats']} runs.", "",
             "| batch | decode fps | model fps | end-to-end fps | e2e / slower stage | e2e p50 ms | e2e p99 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        d, m, e = r["decode"], r["model"], r["end_to_end"]
        lines.append(f"| {r['batch']} | {d['fps']:.0f} | {m['fps']:.0f} | {e['fps']:.0f} | "
                     f"{e['fps'] / min(d['fps'], m['fps']):.2f} | {e['p50_ms']:.2f} | {e['p99_ms']:.2f} |")
    lines += ["", f"- end-to-end / slower of decode and model (best batch {b['batch']}): {b['e2e_over_limit']:.2f} "
              f"(target >= {t['e2e_over_limit']}: {ok(b['e2e_over_limit'] >= t['e2e_over_limit'])})",
              f"- end-to-end fps: {b['e2e_fps']:.0f} (target >= {t['e2e_fps_640x360']:.0f} at 640x360: "
              f"{ok(b['e2e_fps'] >= t['e2e_fps_640x360'])})",
              f"- peak RSS of one `tvstream run` of the clip: {b['rss_mb']:.0f} MB (target <= {t['rss_mb']:.0f}: "
              f"{ok(b['rss_mb'] <= t['rss_mb'])}); start-up to the first pose line {b['startup_s']:.2f} s; "
              f"torch imported: {b['torch_imported']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
