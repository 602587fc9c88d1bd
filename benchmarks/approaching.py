"""One real person walking towards the camera: does the run's crop grow with the athlete? A run-level check, by boxes.

Run: ``python -m benchmarks.approaching --model M.onnx --name NAME [--clips 8]``; writes
``benchmarks/results/NAME.{json,md}``. Each clip (made once into ``benchmarks/.clips/approaching/``) pastes one
photographed person of ``train.cutouts`` (any pose) over a background photo of the same package, 640 x 360, 3 s at
25 fps, its height growing from 0.2 to 0.85 of the frame's (someone walking, or a skier sliding, towards the
camera) while it drifts a little sideways.

Scored as ``small_person`` (its :func:`~benchmarks.small_person.score_frames`): per clip the frames reported and
*found* (the joints' extent's IoU with the pasted box >= 0.3) and the mean IoU over the frames (a frame not
reported counts 0), also over the clip's last half, where the person is big. Session 60 (rule 33): the athlete's
crop was capped at 1.25 times the size its track learnt from the surest reads only, so a person coming closer was
read on its upper body.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.pasted_people import arguments, made_clips, report_head, scored_runs
from benchmarks.provenance import save
from benchmarks.small_person import score_frames
from benchmarks.two_people import FPS, FRAMES, RESULTS

CLIPS = Path(__file__).parent / ".clips" / "approaching"
SIZE = (640, 360)  # width, height
HEIGHT = (0.2, 0.85)  # the person's height, a share of the frame's, at the first and the last frame


def make_clip(path: Path, seed: int, people: list[Path], backgrounds: list[Path], frames: int = FRAMES) -> dict:
    """Clip ``seed`` at ``path`` (H.264) of one of ``people`` growing from ``HEIGHT[0]`` to ``HEIGHT[1]`` of the
    frame's height, and its record: the person's name, the frame's size and per frame the pasted box
    ``[x0, y0, x1, y1]`` (px)."""
    from train.cutouts.composite import cover, paste, read_background, read_cutout
    from tvstream.video_writer import VideoWriter

    rng = np.random.default_rng(4000 + seed)
    width, height = SIZE
    which = rng.integers(len(people))
    person = read_cutout(people[which]).astype(np.float32)
    plate = cover(read_background(backgrounds[rng.integers(len(backgrounds))]), width, height, rng)
    xs = rng.uniform(0.35, 0.65, 2) * width  # where it starts and ends, across
    boxes = []
    with VideoWriter(path, width, height, FPS, crf=23) as out:
        for t in np.linspace(0, 1, frames):
            tall = np.interp(t, (0, 1), HEIGHT) * height
            image, box = paste(plate, person, np.interp(t, (0, 1), xs), 0.5 * height + tall / 2, tall, 0.8)
            out.write(np.clip(image, 0, 255).astype(np.uint8))
            boxes.append(box)
    return {"person": people[which].stem, "size": [width, height], "boxes": boxes}


def clips(count: int, sources: Path) -> list[tuple[Path, dict]]:
    """The benchmark's clips and their records, made when missing."""
    from train.cutouts.sources import fetch

    people, backgrounds = fetch(sources)
    return made_clips(count, CLIPS, "approaching", lambda video, seed: make_clip(video, seed, people, backgrounds))


def run(model: str, count: int, sources: Path) -> dict:
    def score(record: dict, poses: list) -> dict:
        boxes, late = record["boxes"], len(record["boxes"]) // 2
        return {**score_frames(poses, boxes), "late_iou": score_frames(poses[late:], boxes[late:])["iou"]}

    return scored_runs(model, clips(count, sources), score)


def write(result: dict, name: str) -> None:
    """``benchmarks/results/NAME.json`` (the record) and ``.md`` (the report)."""
    rows = result["rows"]
    lines = [*report_head(result, "A person walking towards the camera: does the crop grow with it?", "approaching"),
             "| clips | frames | reported | found (IoU >= 0.3) | mean IoU | mean IoU, last half |",
             "|---|---:|---:|---:|---:|---:|",
             f"| all ({len(rows)}) | {sum(r['in_view'] for r in rows)} | {sum(r['reported'] for r in rows)} | "
             f"{sum(r['found'] for r in rows)} | {np.mean([r['iou'] for r in rows]):.3f} | "
             f"{np.mean([r['late_iou'] for r in rows]):.3f} |", "",
             "| clip | reported | found | IoU | last half |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['clip']} | {r['reported']}/{r['in_view']} | {r['found']} | {r['iou']:.3f} | {r['late_iou']:.3f} |"
              for r in rows]
    save(RESULTS / name, result, "\n".join(lines) + "\n")


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], 8, "clips", "approaching")
    write(run(args.model, args.clips, args.sources), args.name)


if __name__ == "__main__":
    main()
