"""Portrait video: the model's frame stretched from the source (before 2026-12-02) against the source's aspect kept
between black bars (:mod:`tvstream.frame_fit`), same model, same clips.

Clips: a held-out synthetic portrait set (``mixed``, 4 new subjects, 360x640, the bench's photo plates and
garment photos, seed 9106: none of the training or bench seeds), rendered into ``benchmarks/.clips/portrait``
on the first run; and, when ``benchmarks/real_reference.py`` has fetched and labeled them, the portrait
Pose2Sim reference clips (real, held out, scored against MediaPipe Heavy). Modes as ``pose_bench.py``.

Run: ``python -m benchmarks.frame_fit [--model M]``. Results: ``benchmarks/results/frame_fit.{json,md}``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.provenance import machine, save
from benchmarks.real_reference import FOLDER as REFERENCE

RESULTS = Path(__file__).parent / "results"
PORTRAIT = Path(__file__).parent / ".clips" / "portrait"
PLATES = Path(__file__).parents[1] / "data" / "plates" / "bench"


def render(out: Path = PORTRAIT) -> Path:
    """The synthetic portrait set (rendered once; the bench's plates give it photo backgrounds when present)."""
    if (out / "manifest.json").is_file():
        return out
    photos = ["--backgrounds", str(PLATES), "--textures", str(PLATES)] if PLATES.is_dir() else []
    subprocess.run([sys.executable, "-m", "tvstream", "-q", "synth", "--scenario", "mixed", "--subjects", "4",
                    "--seconds", "2", "--size", "360x640", "--seed", "9106", *photos, "--out", str(out)], check=True)
    return out


def groups() -> dict[str, list[tuple[Path, Path]]]:
    from tvstream.manifest import discover

    found = {"synthetic 360x640": [(Path(e.video), Path(e.labels)) for e in discover(render()) if e.labels]}
    labels = REFERENCE / "labels-mediapipe-heavy"
    real = [(c, labels / f"{c.stem}.json") for c in sorted(REFERENCE.glob("p2s_*.mp4"))
            if (labels / f"{c.stem}.json").is_file()]
    if real:
        found["Pose2Sim 1080x1920 (real, vs Heavy)"] = real
    return found


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(Path(__file__).parents[1] / "tvstream" / "models" / "default.onnx"))
    args = ap.parse_args(argv)
    from train.posenet.evaluate import MODES, bench_model
    from tvstream.frame_fit import FrameFit

    clips = groups()
    rows, kept = [], FrameFit.__dict__["of"]
    try:
        for fit, of in (("aspect kept", kept), ("stretched", FrameFit.__dict__["stretched"])):
            FrameFit.of = of  # every VideoSource below places its frames this way (the old geometry: stretched)
            rows += [{"fit": fit, "mode": mode, **bench_model(args.model, clips, mode)} for mode in MODES]
    finally:
        FrameFit.of = kept
    record, header = machine()
    names = list(clips)
    lines = [f"# Portrait video: aspect kept against stretched, {header}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}. Model `{Path(args.model).name}` ({rows[0]['hash'][:8]}). PCK@0.2 "
             "of the 12 core joints (box IoU); the synthetic set against its true labels, Pose2Sim against "
             "MediaPipe Heavy's 2D (held out: measured, never tuned on).", "",
             "| frame | mode | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for r in rows:
        lines.append(f"| {r['fit']} | {r['mode']} | " + " | ".join(
            f"{r['groups'][g]['pck']:.3f} ({r['groups'][g]['box_iou']:.2f})" for g in names) + " |")
    save(RESULTS / "frame_fit", {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows},
         "\n".join(lines) + "\n")
    return {"rows": rows}


if __name__ == "__main__":
    main()
