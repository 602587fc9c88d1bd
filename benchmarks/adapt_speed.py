"""How long ``tvstream adapt`` takes on 10 minutes of 720p footage, with its default settings, on this machine.

The footage is made from rendered clips (``--source``, a dataset folder: e.g. a shard of the world): decoded,
scaled to 1280x720 and written as ``--clips`` H.264 clips of ``--seconds`` each, one after the other, so the
teacher, the plates and the scoring see real 720p video of the intended length. Then one ``tvstream adapt``
run with its defaults (MediaPipe Heavy on one frame in 5, 400 steps); the result is its report's time per
stage and the frames labeled.

Run: ``python -m benchmarks.adapt_speed --source data/world/studio_photo_0 [--venv .mpvenv]``.
Results: ``benchmarks/results/adapt_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.provenance import machine, save

RESULTS = Path(__file__).parent / "results"


def make_footage(source: Path, out: Path, clips: int, seconds: float, size: tuple[int, int] = (1280, 720),
                 fps: int = 25) -> Path:
    """``clips`` H.264 clips of ``seconds`` at ``size`` from the videos of ``source``, in order (once)."""
    import av

    from tvstream.manifest import discover

    if out.is_dir() and len(list(out.glob("*.mp4"))) == clips:
        return out
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    videos = iter([Path(e.video) for e in discover(source)] * 100)
    per_clip = int(seconds * fps)

    def frames():
        for video in videos:
            with av.open(str(video)) as container:
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(width=size[0], height=size[1], format="rgb24")

    stream_frames = frames()
    for k in range(clips):
        with av.open(str(tmp / f"take_{k:02d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            stream.options = {"crf": "20", "preset": "veryfast"}
            for _ in range(per_clip):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(next(stream_frames), format="rgb24")))
            container.mux(stream.encode(None))
    tmp.rename(out)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="a dataset folder whose clips make the footage")
    ap.add_argument("--work", type=Path, default=Path("runs/adapt_speed"))
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--venv", type=Path, default=None, help="the teacher's venv (default: tvstream's teacher home)")
    ap.add_argument("--out", type=Path, default=RESULTS / "adapt_speed")
    args = ap.parse_args(argv)
    tic = time.perf_counter()
    footage = make_footage(args.source, args.work / "footage", args.clips, args.seconds)
    made_s = time.perf_counter() - tic
    model = args.work / "venue.onnx"
    cmd = [sys.executable, "-m", "tvstream", "-q", "adapt", str(footage), "--out", str(model),
           *(["--venv", str(args.venv)] if args.venv else [])]
    tic = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        raise SystemExit(f"adapt failed:\n{done.stderr[-3000:]}")
    report = json.loads((args.work / "venue.adapt" / "report.json").read_text())
    record, header = machine()
    minutes = args.clips * args.seconds / 60
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "footage_minutes": minutes,
              "footage_s": round(made_s, 1), "adapt_wall_s": round(wall, 1), "report": report}
    lines = [f"# `tvstream adapt` on {minutes:.0f} minutes of 1280x720 footage, {header}", "",
             f"{args.clips} clips of {args.seconds:.0f} s made from `{args.source}` (rendered athletes), default settings: "
             f"teacher {report['teacher']} on one frame in {report.get('every', report['config']['every'])} "
             f"({report['labeled_frames']} frames labeled), {report['synth_frames']} frames rendered over "
             f"{report['plates']} plates, {report.get('replay_rows', 0)} rows of a rendered replay world "
             f"(replay: {report['config'].get('replay') or 'none'}), "
             f"{report.get('steps', report['config']['steps'])} fine-tuning steps of "
             f"{'the whole network' if report['config'].get('part') == 'all' else 'the box detector'}.", "",
             f"**Whole run: {wall / 60:.1f} minutes** (target: within 60).", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in report["seconds"].items()]
    lines += ["", f"Agreement with the teacher on the held-out tails: before {report['before']['pck']:.3f}, "
                  f"after {report['after']['pck']:.3f}."]
    save(args.out, result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
