"""Every speed and memory benchmark in one command, and one report of all their results.

Run: ``python -m benchmarks.all`` (about 30-40 minutes on the 2-core dev box; ``--quick`` for a short pass
on fewer frames, ``--only``/``--skip`` to choose, ``--report-only`` to rebuild the report from the results
already there). Each benchmark runs in its own process, one after another (they would disturb each
other's timings), and writes its own ``benchmarks/results/<name>.{json,md}``; this script then writes
``benchmarks/results/REPORT.md``: the machine, and every result file's Markdown in a fixed order, each
with the date it was measured, followed by ``<name>_notes.md`` where one holds what was learnt from it
(hand-written, so a rerun does not lose it). A benchmark that fails is named in the report and the exit status.
GPU rows (``ssl_step_time --device cuda``) run only where torch sees a GPU; their last results stay in the
report with the card they ran on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

# name -> (module arguments, arguments for --quick, result stems shown in the report)
BENCHMARKS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "runtime": ([], ["--repeats", "1"], ["runtime"]),
    "pipeline_overhead": ([], ["--frames", "200"], ["pipeline_overhead"]),
    "ws_fanout": ([], ["--seconds", "15"], ["ws_fanout"]),
    "runtime_scaling": ([], ["--frames", "150", "--repeats", "1"], ["runtime_scaling"]),
    "peer_mediapipe": ([], ["--frames", "150", "--repeats", "1"], ["peer_mediapipe"]),
    "engines_latency": ([], [], ["engines_latency"]),
    "ssl_step_time": ([], [], ["ssl_step_time"]),
    "ssl_step_time_gpu": ([], [], ["ssl_step_time_gpu"]),
    "sampler_throughput": ([], [], ["sampler"]),
    "synth_speed": ([], [], ["synth_speed"]),
}
# results that other commands write (training runs): shown in the report when present
EXTRA_RESULTS = ("ssl_box_iou", "detector_sweep_gpu", "cpu_bf16_vs_fp32")


def _command(name: str, quick: bool) -> list[str]:
    args, quick_args, _ = BENCHMARKS[name]
    if name == "ssl_step_time_gpu":
        return [sys.executable, "-m", "benchmarks.ssl_step_time", "--device", "cuda"]
    return [sys.executable, "-m", f"benchmarks.{name}", *args, *(quick_args if quick else [])]


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def run_all(names: list[str], quick: bool) -> dict[str, str]:
    """Run ``names`` one by one; returns name -> "ok", "failed (exit N)" or "skipped (why)"."""
    status = {}
    for name in names:
        if name == "ssl_step_time_gpu" and not _has_gpu():
            status[name] = "skipped (no GPU here; the last GPU results are kept)"
            continue
        cmd = _command(name, quick)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])}", flush=True)
        tic = time.perf_counter()
        rc = subprocess.call(cmd, cwd=Path(__file__).parents[1])
        status[name] = "ok" if rc == 0 else f"failed (exit {rc})"
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {status[name]} in {time.perf_counter() - tic:.0f} s", flush=True)
    return status


def _demote(markdown: str) -> str:
    """Headings one level down, so each result file is a section of the report."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def write_report(status: dict[str, str], quick: bool) -> Path:
    from tvstream.sysinfo import cpu_model

    lines = ["# tvstream benchmark report", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M')} by `python -m benchmarks.all`"
             f"{' --quick' if quick else ''} on {cpu_model()} ({os.cpu_count()} cores). Each section is one "
             "result file as its benchmark wrote it, with the machine and date it was measured on (GPU rows "
             "name their card).", ""]
    if status:
        lines += ["| benchmark | this run |", "|---|---|"]
        lines += [f"| {name} | {state} |" for name, state in status.items()]
        lines.append("")
    stems = [s for _, _, stems in BENCHMARKS.values() for s in stems] + list(EXTRA_RESULTS)
    missing = []
    for stem in stems:
        md = RESULTS / f"{stem}.md"
        if md.is_file():
            lines += [_demote(md.read_text().rstrip()), ""]
            notes = RESULTS / f"{stem}_notes.md"  # findings written by hand; they survive a benchmark's rerun
            if notes.is_file():
                lines += [notes.read_text().rstrip(), ""]
        else:
            missing.append(stem)
    if missing:
        lines += ["## Not measured yet", "", ", ".join(f"`{m}`" for m in missing), ""]
    out = RESULTS / "REPORT.md"
    out.write_text("\n".join(lines))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and repeats (a smoke pass, noisier numbers)")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run just these")
    ap.add_argument("--skip", nargs="+", choices=list(BENCHMARKS), default=[], help="leave these out")
    ap.add_argument("--report-only", action="store_true", help="only rebuild REPORT.md from the results there")
    args = ap.parse_args(argv)
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    status = {} if args.report_only else run_all(names, args.quick)
    report = write_report(status, args.quick)
    print(f"report: {report}")
    failed = [n for n, s in status.items() if s.startswith("failed")]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
