"""What the benchmarks of pasted people share (``two_people``, ``small_person``, ``approaching``): the made clips, the
run's reported skeletons per frame of a clip scored per clip, the report's head, and the command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

SOURCES = Path("data/cutouts/sources")


def made_clips(count: int, folder: Path, stem: str, make: Callable[[Path, int], dict]) -> list[tuple[Path, dict]]:
    """Clips ``folder/STEM_i.mp4`` and their records ``.json`` for seeds ``i`` < ``count``, each made by ``make(video,
    seed)`` (which writes the video and returns the record) when either file is missing."""
    from tvstream.json_documents import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for seed in range(count):
        video, record = folder / f"{stem}_{seed}.mp4", folder / f"{stem}_{seed}.json"
        if not (video.is_file() and record.is_file()):
            write_text_atomic(record, json.dumps(make(video, seed)) + "\n")
        found.append((video, json.loads(record.read_text())))
    return found


def reported_poses(reader, video: Path) -> list[np.ndarray | None]:
    """Per frame of ``video``, the 2D joints ``(J, 2)`` (px) ``tvstream run`` reports with its default options and
    ``reader``'s model (``train.posenet.evaluate.ClipReader``), or None where it reports nothing."""
    from tvstream.pipeline import RunOptions, estimate
    from tvstream.sources import VideoSource

    backend, finder = reader.run_backends(video)
    with VideoSource(str(video), backend.metadata.input_size) as source:
        return [np.asarray(r.pose2d, float) if r.detected else None
                for r in estimate(source, backend, RunOptions(), finder=finder)]


def scored_runs(model: str, clips: list[tuple[Path, dict]], score: Callable[[dict, list], dict]) -> dict:
    """The run of ``model`` on each of ``clips`` (video, record), its reported skeletons (:func:`reported_poses`)
    scored by ``score(record, poses)``: ``{"model", "hash", "rows"}``, one row a clip (printed as it comes)."""
    from train.posenet.evaluate import ClipReader

    reader, rows = ClipReader(model), []
    for video, record in clips:
        rows.append({"clip": video.stem, **score(record, reported_poses(reader, video))})
        print(json.dumps(rows[-1]), flush=True)
    return {"model": model, "hash": reader.backend.metadata.model_hash, "rows": rows}


def report_head(result: dict, title: str, module: str) -> list[str]:
    """The report's first lines (the title with this machine, the model and the benchmark's module); the machine
    is also recorded in ``result``."""
    from benchmarks.provenance import machine

    record, described = machine()
    result["machine"] = record
    return [f"# {title} ({described})", "",
            f"Model: {result['model']} ({result['hash']}). Clips and scoring: `benchmarks/{module}.py`.", ""]


def arguments(description: str, clips: int, clips_help: str, name: str, teacher: bool = False) -> argparse.Namespace:
    """The command line: ``--model``, ``--clips`` (default ``clips``), ``--sources``, ``--name`` (default ``name``);
    with ``teacher`` also ``--pck`` (score against MediaPipe Pose Heavy's 2D too) and ``--venv`` (its venv)."""
    parser = argparse.ArgumentParser(description=description)
    if teacher:
        parser.add_argument("--pck", action="store_true",
                            help="also PCK@0.2 against MediaPipe Pose Heavy's 2D of the clips (needs the teacher: "
                                 "`tvstream teacher install`, or --venv)")
        parser.add_argument("--venv", type=Path, help="the teacher's venv (default: tvstream's)")
    parser.add_argument("--model", default="tvstream/models/default.onnx", help="an exported .onnx")
    parser.add_argument("--clips", type=int, default=clips, help=clips_help)
    parser.add_argument("--sources", type=Path, default=SOURCES,
                        help="train.cutouts' sources folder (people/, backgrounds/; fetched when missing)")
    parser.add_argument("--name", default=name, help="the results' name in benchmarks/results")
    return parser.parse_args()
