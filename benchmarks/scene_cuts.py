"""Footage of cuts: each bench group's clips joined into one stream, run with and without the run's cut detection.

Edited footage (a broadcast's camera changes) cuts from shot to shot. Each group of the bench (clips of 2-4 s, one
camera and one subject each) is joined in name order into one H.264 stream (``--work``, written once), so every
join is a cut: to another camera of the same room, another subject, another place. Through the product's path
(``tvstream run``, default options) with ``RunOptions.cuts`` off and on, the joined run's frames are split back into
the clips and scored against each clip's labels (PCK@0.2; a frame the run does not report counts as a miss), with
the share of labeled frames the run reports.

Also, :class:`tvstream.scene_cut.CutDetector` alone over the run's frames: the joins it finds in the joined streams,
the cuts it calls elsewhere in them, and those it calls inside each bench clip read alone (none is a cut: false).

Run: ``python -m benchmarks.scene_cuts --bench data/bench [--work runs/scene_cuts]``; writes
``benchmarks/results/scene_cuts.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save
from train.posenet.evaluate import ClipReader, clip_groups, pipeline_outputs, scenario_of, score_clip, summarise
from tvstream.pipeline import RunOptions
from tvstream.scene_cut import CutDetector
from tvstream.sources import VideoSource
from tvstream.video_writer import VideoWriter

RESULTS = Path(__file__).parent / "results"


def join_clips(videos: list[Path], out: Path) -> list[int]:
    """Write ``videos`` (one size and rate) one after another as ``out`` (H.264, once, atomically:
    :class:`tvstream.video_writer.VideoWriter`); returns each clip's first frame in the joined stream, and the joined
    length last."""
    import av

    with av.open(str(videos[0])) as first:
        stream = first.streams.video[0]
        size, fps = (stream.width, stream.height), float(stream.average_rate or 25)
    writer = None if out.is_file() else VideoWriter(out, *size, fps, crf=16)  # written once; counted on later calls
    starts, count = [], 0
    try:
        for video in videos:
            starts.append(count)
            with av.open(str(video)) as source:
                for frame in source.decode(video=0):
                    count += 1
                    if writer is not None:
                        writer.write(frame.to_ndarray(format="rgb24"))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    return starts + [count]


def cuts_called(video: Path, size: tuple[int, int]) -> list[int]:
    """The frames of ``video`` (as the run reads it at the model's ``size``) that the cut detector says start a shot."""
    with VideoSource(str(video), size) as source:
        shots = CutDetector(picture=source.fit.picture)
        return [frame.index for frame in source.frames() if shots.observe(frame.image)]


def benchmark(model: str, groups: dict[str, list[tuple[Path, Path]]], work: Path) -> dict:
    reader = ClipReader(model)
    size = reader.backend.metadata.input_size
    rows, pooled = {}, {"without": [], "with": []}
    work.mkdir(parents=True, exist_ok=True)
    for name, clips in groups.items():
        videos = [video for video, _ in clips]
        joined = work / f"{name}.mp4"
        starts = join_clips(videos, joined)
        called = cuts_called(joined, size)
        joins = set(starts[1:-1])
        row = {"clips": len(clips), "frames": starts[-1], "joins": len(joins),
               "joins_found": len(joins & set(called)), "cuts_elsewhere": len(set(called) - joins),
               "false_cuts_in_clips": sum(len(cuts_called(video, size)) for video in videos)}
        backend, finder = reader.run_backends(joined)
        for arm, cuts in (("without", False), ("with", True)):
            options = replace(RunOptions(), cuts=cuts)
            out = pipeline_outputs(backend, joined, scenario_of(name), options=options, finder=finder)[0]
            parts = []
            for (lo, hi), (_, labels) in zip(zip(starts, starts[1:]), clips):
                parts.append(score_clip({k: v[lo:hi] for k, v in out.items()}, labels))
            reported = float(np.isfinite(out["pose2d"]).all(axis=(1, 2)).mean())
            row[arm] = summarise(parts) | {"reported": reported}
            pooled[arm] += parts
        rows[name] = row
        print(name, row, flush=True)
    rows["bench (all)"] = {arm: summarise(parts) for arm, parts in pooled.items()}
    return {"model": model, "date": time.strftime("%Y-%m-%d %H:%M"), "groups": rows}


def markdown(result: dict, header: str) -> str:
    lines = ["# Footage of cuts: the bench's clips joined, through the run without and with cut detection", "",
             f"{result['date']}, {header}. Model `{result['model']}`. Each bench group's clips joined in name order "
             "into one stream (every join a cut); `tvstream run`'s path with `RunOptions.cuts` off and on (default "
             "options otherwise); PCK@0.2 over every labeled frame (a frame not reported is a miss) and the share of "
             "frames reported. Cut detector alone: joins found, cuts called elsewhere in the joined stream, and cuts "
             "called inside the group's clips each read alone (all false).", "",
             "| clips | frames | joins found | cuts elsewhere | false cuts in clips | PCK without | PCK with | "
             "reported without | reported with |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in result["groups"].items():
        if name == "bench (all)":
            continue
        a, b = g["without"], g["with"]
        lines.append(f"| {name} | {g['frames']} | {g['joins_found']}/{g['joins']} | {g['cuts_elsewhere']} | "
                     f"{g['false_cuts_in_clips']} | {a['pck']:.3f} | {b['pck']:.3f} | {a['reported']:.3f} | "
                     f"{b['reported']:.3f} |")
    a, b = result["groups"]["bench (all)"]["without"], result["groups"]["bench (all)"]["with"]
    lines.append(f"| **all** | {a['frames']} | | | | **{a['pck']:.3f}** | **{b['pck']:.3f}** | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tvstream/models/default.onnx")
    ap.add_argument("--bench", type=Path, required=True, help="the bench world (python -m train.synth.world bench)")
    ap.add_argument("--work", type=Path, default=Path("runs/scene_cuts"), help="where the joined streams are written")
    ap.add_argument("--out", type=Path, default=RESULTS / "scene_cuts")
    args = ap.parse_args(argv)
    result = benchmark(args.model, clip_groups(args.bench, False), args.work)
    record, header = machine()
    save(args.out, result | {"machine": record}, markdown(result, header))


if __name__ == "__main__":
    main()
