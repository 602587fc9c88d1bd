"""Where a real ``tvstream run`` spends its time: a py-spy sampling profile of the whole process.

Every thread is sampled (the decoder thread, ONNX Runtime's native code with ``--native``, the pipeline
and the JSON sink), and the report lists the functions holding the most samples on top of the stack
(own time) and the pipeline stages by inclusive samples in the main thread.
Run: ``python -m benchmarks.runtime_profile [--clip C] [--batch B]``; needs ``py-spy`` (the dev extra's
profiler; ``pip install py-spy``); writes ``benchmarks/results/runtime_profile.{md,txt}``
(the ``.txt`` holds the collapsed stacks, one line per distinct stack with its sample count).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
SAMPLE = Path(__file__).parents[1] / "examples" / "sample_ski.mp4"
# stage -> (function, file) as py-spy names frames: "function (path/file.py:line)"
STAGES = {"model (backend infer)": ("infer", "backends/"), "decoder thread": ("_decode_loop", "sources.py"),
          "foreground score": ("observe", "background.py"), "smoothing": ("__call__", "smoothing.py"),
          "JSON line + write": ("pose", "sinks.py"), "box/joint mapping": ("to_source", "frame_fit.py"),
          "overlay drawing": ("draw_skeleton", "overlay.py")}


def collapsed(clip: Path, batch: int, rate: int, loops: int) -> str:
    """Collapsed stacks (``frame;frame;... count``) of ``tvstream run`` over ``clip`` ``loops`` times."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("error: py-spy is not installed (pip install py-spy)")
    with tempfile.TemporaryDirectory() as tmp:
        # one process runs the clip `loops` times, so start-up is a small share of the samples
        argv = ["tvstream", "-q", "run", str(clip), "--out", str(Path(tmp) / "p.jsonl"), "--batch", str(batch)]
        script = Path(tmp) / "profiled_run.py"  # a file, not -c: py-spy puts the command line into its stacks
        script.write_text(f"import sys\nfrom tvstream.cli.main import main\nsys.argv = {argv!r}\n"
                          f"for _ in range({loops}):\n    try:\n        main()\n    except SystemExit:\n        pass\n")
        out = Path(tmp) / "stacks.txt"
        cmd = [spy, "record", "--format", "raw", "--rate", str(rate), "--threads", "-o", str(out),
               "--", sys.executable, str(script)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return out.read_text()


def summarise(stacks: str, top: int = 15) -> dict:
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in stacks.splitlines():
        path, _, count = line.rpartition(" ")
        if not path:
            continue
        n = int(count)
        total += n
        frames = path.split(";")
        own[_short(frames[-1])] += n
        for stage, (function, file) in STAGES.items():
            if any(_matches(f, function, file) for f in frames):
                inclusive[stage] += n
    return {"samples": total, "own": [(f, n / total) for f, n in own.most_common(top)],
            "stages": [(s, inclusive[s] / total) for s in STAGES]}


def _matches(frame: str, function: str, file: str) -> bool:
    """Is ``frame`` (``Class.function (path/file.py:12)`` or ``function (...)``) ``function`` in ``file``?"""
    name, _, where = frame.partition(" (")
    return (name == function or name.endswith("." + function)) and file in where


def _short(frame: str) -> str:
    """``function (path/to/file.py:123)`` -> ``function (file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')').split(':')[0]).name})" if where else name


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=SAMPLE)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rate", type=int, default=250, help="samples per second")
    ap.add_argument("--loops", type=int, default=3, help="runs of the clip in the profiled process")
    args = ap.parse_args(argv)
    stacks = collapsed(args.clip, args.batch, args.rate, args.loops)
    s = summarise(stacks)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "runtime_profile.txt").write_text(stacks)
    lines = ["# Profile of `tvstream run` (py-spy, every thread)", "",
             f"Machine: {cpu_model()} ({os.cpu_count()} cores); {time.strftime('%Y-%m-%d %H:%M')}. "
             f"`tvstream run {args.clip.name} --batch {args.batch}` x{args.loops} in one process, sampled at "
             f"{args.rate} Hz: {s['samples']} samples over all threads (idle waits included: a thread "
             "blocked on a queue is sampled too).", "",
             "## Own time (top of stack)", "", "| function | share of samples |", "|---|---:|"]
    lines += [f"| `{f}` | {share:.1%} |" for f, share in s["own"]]
    lines += ["", "## Pipeline stages (inclusive)", "", "| stage | share of samples |", "|---|---:|"]
    lines += [f"| `{st}` | {share:.1%} |" for st, share in s["stages"]]
    lines += ["", "Collapsed stacks: `runtime_profile.txt` (load into speedscope or flamegraph.pl)."]
    (RESULTS / "runtime_profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
