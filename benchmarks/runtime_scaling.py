"""How the runtime scales: fps vs batch size and vs input resolution, ORT threads, start-up, memory, CPU cost.

Run: ``python -m benchmarks.runtime_scaling [--model M.onnx] [--frames N]``; writes
``benchmarks/results/runtime_scaling.{json,md}`` and ``runtime_scaling_{batch,resolution}.png``.

- In one process, with :func:`tvstream.bench.benchmark` (decode-only, model-only, end-to-end): every batch
  size on the 640x360 sample, and every clip (360p / 720p / 1080p, see ``benchmarks/clips.py``) at the
  ``--res-batches``, for each ONNX Runtime thread count. Median of ``--repeats`` runs by end-to-end fps.
  Cost: the process's CPU time (all threads) over the end-to-end run, per hour of 25 fps video.
- In a fresh ``tvstream run`` subprocess per clip and thread count (batch 1, the CLI default): start-up
  (process start to the first pose line on stdout), peak RSS and the CPU time of the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.clips import HEIGHTS, ROOT, clip
from tvstream.api import open_model
from tvstream.bench import BenchResult, benchmark
from benchmarks.plotting import pyplot
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
VIDEO_HOUR = 25 * 3600  # frames in one hour of 25 fps video


def _median_run(runs: list[BenchResult]) -> BenchResult:
    return sorted(runs, key=lambda r: r.end_to_end.fps)[len(runs) // 2]


def measure(uri: str, engine, batch: int, frames: int | None, repeats: int, threads: int) -> dict:
    """One configuration: the median run's timings (per-process peak RSS left out: it only ever grows)."""
    best = _median_run([benchmark(uri, engine, batch, frames) for _ in range(repeats)])
    row = {k: v for k, v in best.to_dict().items() if k != "rss_mb"}
    e2e = best.end_to_end
    return {**row, "threads": threads, "clip": os.path.relpath(uri, ROOT),
            "cpu_s_per_video_hour": round(e2e.cpu_seconds / e2e.frames * VIDEO_HOUR) if e2e.frames else None}


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` of a running process. Not ``ru_maxrss``: Linux carries the parent's high-water mark
    across fork and exec into the child's, so a child of a big benchmark process would report that."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def measure_process(model: str | None, uri: str, threads: int, frames: int | None) -> dict:
    """A fresh ``tvstream run`` of ``uri`` to stdout: seconds to its first pose line, peak RSS, CPU time.

    Peak RSS is read at every pose line (the last reading before the process ends). With ``frames`` it is
    stopped by SIGTERM after that many pose lines (it finishes cleanly).
    """
    cmd = [sys.executable, "-m", "tvstream", "-q", "run", uri, "--threads", str(threads), "--out", "-"]
    cmd += ["--model", model] if model else []
    with tempfile.TemporaryFile() as err:
        tic = time.perf_counter()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True) as proc:
            first, poses, rss = None, 0, None
            for line in proc.stdout:
                if json.loads(line)["type"] != "pose":
                    continue
                poses += 1
                rss = peak_rss_mb(proc.pid) or rss
                if first is None:
                    first = time.perf_counter() - tic
                if frames and poses == frames:
                    proc.send_signal(signal.SIGTERM)
            _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage, not all children's
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - tic
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err.read().decode()[-2000:]}")
    return {"threads": threads, "clip": os.path.relpath(uri, ROOT), "frames": poses,
            "startup_s": round(first, 3) if first is not None else None, "wall_s": round(wall, 3),
            "rss_mb": round(rss, 1) if rss is not None else None, "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="exported .onnx (default: the embedded default model)")
    ap.add_argument("--batches", default="1,2,4,8,16", help="batch sizes for the batch sweep (640x360)")
    ap.add_argument("--heights", default=",".join(map(str, HEIGHTS)), help="clips for the resolution sweep")
    ap.add_argument("--res-batches", default="1,8", help="batch sizes for the resolution sweep")
    ap.add_argument("--threads", default="1,2", help="ONNX Runtime intra-op thread counts")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each clip (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "runtime_scaling"), help="results path without extension")
    args = ap.parse_args(argv)
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    batches, heights, res_batches = ints(args.batches), ints(args.heights), ints(args.res_batches)
    configs = sorted({(360, b) for b in batches} | {(h, b) for h in heights for b in res_batches})

    rows, info = [], None
    for threads in ints(args.threads):
        engine, info = open_model(args.model, "onnxruntime", threads)
        for height, batch in configs:
            row = measure(str(clip(height)), engine, batch, args.frames, args.repeats, threads)
            rows.append(row)
            print(f"threads {threads}, {row['width']}x{row['height']}, batch {batch}: end-to-end "
                  f"{row['end_to_end']['fps']:.0f} fps", file=sys.stderr)
        engine.close()
    processes = [measure_process(args.model, str(clip(h)), t, args.frames) for t in ints(args.threads) for h in heights]

    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": {**info, "path": str(args.model or "embedded default")}, "frames": args.frames,
        "repeats": args.repeats, "batches": batches, "heights": heights, "res_batches": res_batches,
        "rows": rows, "processes": processes,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(report(result))
    plot(result, out)
    print(report(result))
    return result


def _row_line(r: dict, first: str) -> str:
    d, m, e = r["decode"], r["model"], r["end_to_end"]
    return (f"| {r['threads']} | {first} | {d['fps']:.0f} | {m['fps']:.0f} | {e['fps']:.0f} | {e['p50_ms']:.1f} | "
            f"{e['p99_ms']:.1f} | {r['cpu_s_per_video_hour']} | {r['cpu_s_per_video_hour'] / 3600:.2f} |")


def report(result: dict) -> str:
    m = result["machine"]
    frames = f"first {result['frames']} frames" if result["frames"] else "all frames"
    head = ("| decode fps | model fps | end-to-end fps | e2e p50 ms | e2e p99 ms | CPU-s per video hour | "
            "cores for real time |")
    rule = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    lines = ["# Runtime scaling: batch, resolution, threads (CPU)", "",
             f"Machine: {m['cpu']} ({m['cores']} cores); {result['date']}. Model: {result['model']['path']} "
             f"(hash {result['model']['hash']}, ONNX Runtime). Clips: {frames}; median of {result['repeats']} "
             "run(s). CPU-s per video hour: process CPU time (all threads) of the end-to-end run per hour of "
             "25 fps video; cores for real time = that / 3600.", "",
             "## fps vs batch (640x360)", "", "| threads | batch " + head, rule]
    rows = result["rows"]
    lines += [_row_line(r, str(r["batch"])) for r in rows if r["height"] == 360 and r["batch"] in result["batches"]]
    lines += ["", "## fps vs input resolution", "", "| threads | clip, batch " + head, rule]
    lines += [_row_line(r, f"{r['width']}x{r['height']}, {r['batch']}") for r in rows
              if r["height"] in result["heights"] and r["batch"] in result["res_batches"]]
    lines += ["", "## One `tvstream run` process (batch 1)", "",
              "| threads | clip | frames | start-up s (to first pose line) | wall s | peak RSS MB | process CPU s |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {p['threads']} | {p['clip']} | {p['frames']} | {p['startup_s']} | {p['wall_s']} | {p['rss_mb']} "
              f"| {p['cpu_s']} |" for p in result["processes"]]
    return "\n".join(lines) + "\n"


def _where(rows: list[dict], key: str, **match: int) -> list[dict]:
    """The rows whose fields equal ``match``, sorted by ``key``."""
    return sorted((r for r in rows if all(r[k] == v for k, v in match.items())), key=lambda r: r[key])


def plot(result: dict, out: Path) -> None:
    """``<out>_batch.png`` and ``<out>_resolution.png`` (skipped without matplotlib)."""
    plt = pyplot()
    if plt is None:
        return
    title = f"{result['machine']['cpu']}, {result['machine']['cores']} cores"
    for name, draw in (("batch", _plot_batch), ("resolution", _plot_resolution)):
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, result, title)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{out}_{name}.png", dpi=120)
        plt.close(fig)


def _plot_batch(ax, result: dict, title: str) -> None:
    """End-to-end (solid) and model-only (dashed) fps against batch size at 640x360, one colour per thread count."""
    for t in sorted({r["threads"] for r in result["rows"]}):
        sweep = [r for r in _where(result["rows"], "batch", threads=t, height=360) if r["batch"] in result["batches"]]
        xs = [r["batch"] for r in sweep]
        line, = ax.plot(xs, [r["end_to_end"]["fps"] for r in sweep], "o-", label=f"end to end, {t} thread(s)")
        ax.plot(xs, [r["model"]["fps"] for r in sweep], "s--", color=line.get_color(), alpha=0.6,
                label=f"model only, {t} thread(s)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(result["batches"], [str(b) for b in result["batches"]])
    ax.set(xlabel="batch size", ylabel="frames / s", title=f"fps vs batch, 640x360 ({title})")


def _plot_resolution(ax, result: dict, title: str) -> None:
    """End-to-end fps against clip height per thread count and batch, with decode-only fps dotted."""
    rows = [r for r in result["rows"] if r["height"] in result["heights"]]
    sweeps = {(t, b): _where(rows, "height", threads=t, batch=b)
              for t in sorted({r["threads"] for r in rows}) for b in result["res_batches"]}
    for (t, b), sweep in sweeps.items():
        ax.plot([r["height"] for r in sweep], [r["end_to_end"]["fps"] for r in sweep], "o-",
                label=f"end to end, {t} thread(s), batch {b}")
    first = next(iter(sweeps.values()))  # decoding does not use ONNX Runtime's threads: one line suffices
    ax.plot([r["height"] for r in first], [r["decode"]["fps"] for r in first], "k:", label="decode only")
    ax.set_xticks(result["heights"], [f"{h}p" for h in result["heights"]])
    ax.set(xlabel="input resolution", ylabel="frames / s", title=f"fps vs resolution ({title})")


if __name__ == "__main__":
    main()
