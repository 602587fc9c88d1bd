"""The benchmark clips: ``examples/sample_ski.mp4`` (640x360) and 720p / 1080p re-encodings of it.

Run: ``python -m benchmarks.clips`` to make them ahead of time; the benchmarks call :func:`clip`, which makes
a missing one on demand. The re-encodings (libx264, same frames and rate, bicubic upscale) go to the
git-ignored ``benchmarks/.clips/`` and are never committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample_ski.mp4"
CLIPS_DIR = Path(__file__).resolve().parent / ".clips"
HEIGHTS = (360, 720, 1080)
CRF = "20"  # visually clean, at a bitrate typical of broadcast contribution files
PRESET = "fast"  # B-frames and CABAC like a real encoder's output, without a minute-long encode per clip


def clip(height: int) -> Path:
    """The sample clip at ``height`` lines (16:9), re-encoded on first use; 360 is the sample itself."""
    if height not in HEIGHTS:
        raise ValueError(f"clip height must be one of {HEIGHTS}, got {height}")
    if height == 360:
        return SAMPLE
    path = CLIPS_DIR / f"{SAMPLE.stem}_{height}p.mp4"
    if not path.is_file():
        _reencode(SAMPLE, path, height)
    return path


def _reencode(src: Path, dst: Path, height: int) -> None:
    """``src`` scaled to ``height`` (width keeps the aspect, rounded to even) as H.264 in ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_suffix(".part.mp4")  # renamed when complete: an interrupted encode is never reused
    print(f"making {dst.relative_to(ROOT)} ...", file=sys.stderr)
    with av.open(str(src)) as inp, av.open(str(partial), "w") as out:
        istream = inp.streams.video[0]
        istream.thread_type = "AUTO"
        width = round(istream.codec_context.width * height / istream.codec_context.height / 2) * 2
        ostream = out.add_stream("libx264", rate=istream.average_rate, options={"crf": CRF, "preset": PRESET})
        ostream.width, ostream.height, ostream.pix_fmt = width, height, "yuv420p"
        for frame in inp.decode(istream):
            scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            out.mux(ostream.encode(scaled))
        out.mux(ostream.encode(None))
    partial.rename(dst)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heights", default=",".join(map(str, HEIGHTS)))
    args = ap.parse_args(argv)
    for height in (int(h) for h in args.heights.split(",")):
        print(clip(height))


if __name__ == "__main__":
    main()
