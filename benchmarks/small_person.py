"""One real person, small in a wide frame: does the run find the athlete and stay on it? A run-level check, by boxes.

Run: ``python -m benchmarks.small_person --model M.onnx --name NAME [--clips 16]``; writes
``benchmarks/results/NAME.{json,md}``. Each clip (made once into ``benchmarks/.clips/small_person/``) pastes one
photographed person of ``train.cutouts`` (any pose) over a background photo of the same package, 1280 x 720, 3 s at
25 fps, walking 0.3-0.6 of the frame's width. The person is 0.15-0.45 of the frame's height (a skier or a diver
seen by a broadcast camera is small in the picture); a clip of every fourth seed starts with the person outside the
frame, walking in.

The pasted box is the label. Each reported frame's skeleton is given a box (its joints' extent); per clip: frames the
person is in view, frames reported, frames *found* (the extent's IoU with the box >= 0.3) and the mean IoU with
the box over the frames in view (a frame not reported counts 0). The joints' extent is smaller than the pasted box
(the head top, the feet and the hands lie beyond the joints), so a perfect run scores under 1; compare models by
their differences. The people are the landmark tune's real cut-outs, so this measures the run's detection and
tracking of a small person, not how well a head reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.pasted_people import arguments, made_clips, report_head, scored_runs
from benchmarks.provenance import save
from benchmarks.two_people import FPS, FRAMES, RESULTS

CLIPS = Path(__file__).parent / ".clips" / "small_person"
SIZE = (1280, 720)  # width, height
HEIGHT = (0.15, 0.45)  # the person's height, a share of the frame's
FOUND_IOU = 0.3  # a reported skeleton whose extent overlaps the pasted box this much is on the person
ENTER_EVERY = 4  # every this many-th clip the person walks in from outside the frame


def make_clip(path: Path, seed: int, people: list[Path], backgrounds: list[Path], frames: int = FRAMES) -> dict:
    """Clip ``seed`` at ``path`` (H.264) of one of ``people`` and its record: the person's name, the frame's size and
    per frame the pasted box ``[x0, y0, x1, y1]`` (px), or None where the person is outside the frame."""
    from train.cutouts.composite import cover, paste, read_background, read_cutout
    from tvstream.video_writer import VideoWriter

    rng = np.random.default_rng(2000 + seed)
    width, height = SIZE
    which = rng.integers(len(people))
    person = read_cutout(people[which]).astype(np.float32)
    plate = cover(read_background(backgrounds[rng.integers(len(backgrounds))]), width, height, rng)
    tall = rng.uniform(*HEIGHT) * height
    reach = rng.uniform(0.3, 0.6)
    start = -0.1 if seed % ENTER_EVERY == ENTER_EVERY - 1 else rng.uniform(0.1, 0.9 - reach)
    xs = (start, start + reach) if rng.random() < 0.5 else (1 - start, 1 - start - reach)
    foot = rng.uniform(max(0.6, tall / height + 0.02), 0.97) * height
    boxes = []
    with VideoWriter(path, width, height, FPS, crf=23) as out:
        for t in np.linspace(0, 1, frames):
            x = np.interp(t, (0, 1), xs) * width
            image, box = paste(plate, person, x, foot, tall, 0.8)
            out.write(np.clip(image, 0, 255).astype(np.uint8))
            boxes.append(box if 0 <= x <= width else None)  # in view: the feet's centre (about half the person)
    return {"person": people[which].stem, "size": [width, height], "boxes": boxes}


def clips(count: int, sources: Path) -> list[tuple[Path, dict]]:
    """The benchmark's clips and their records, made when missing."""
    from train.cutouts.sources import fetch

    people, backgrounds = fetch(sources)
    return made_clips(count, CLIPS, "small", lambda video, seed: make_clip(video, seed, people, backgrounds))


def score_frames(poses: list[np.ndarray | None], boxes: list) -> dict:
    """``poses``: per frame the reported 2D joints ``(J, 2)`` (px) or None; ``boxes``: per frame the person's box or
    None (out of view). Frames out of view are not scored."""
    from train.ssl.box_eval import box_iou

    seen = [i for i, box in enumerate(boxes) if box is not None]
    shown = [i for i in seen if poses[i] is not None]
    extent = np.array([np.concatenate([poses[i].min(0), poses[i].max(0)]) for i in shown]).reshape(-1, 4)
    iou = box_iou(extent, np.asarray([boxes[i] for i in shown], float).reshape(-1, 4))
    return {"in_view": len(seen), "reported": len(shown), "found": int((iou >= FOUND_IOU).sum()),
            "iou": float(iou.sum() / len(seen)) if seen else 0.0}


def run(model: str, count: int, sources: Path) -> dict:
    def score(record: dict, poses: list) -> dict:
        box = next(b for b in record["boxes"] if b is not None)
        return {"height": round((box[3] - box[1]) / record["size"][1], 2), **score_frames(poses, record["boxes"])}

    return scored_runs(model, clips(count, sources), score)


def teacher_pck(model: str, clips: list[tuple[Path, dict]], venv: Path | None) -> dict:
    """PCK@0.2 of the 12 core joints against MediaPipe Pose Heavy's 2D of ``clips`` (``tvstream label``, every 2nd
    frame, frames where it found the person; the labels kept beside the clips), through the run (``pipeline``) and
    cropped on Heavy's box (``labeled-box``: the head alone): unlike the boxes, it compares heads too."""
    from benchmarks.real_reference import label
    from train.posenet.evaluate import bench_model

    videos = [video for video, _ in clips]
    labels = label(videos, "mediapipe-heavy", CLIPS, venv)
    groups = {"small_person": [(video, labels / f"{video.stem}.json") for video in videos]}
    return {mode: bench_model(model, groups, mode)["groups"]["bench (all)"] for mode in ("pipeline", "labeled-box")}


def write(result: dict, name: str) -> None:
    """``benchmarks/results/NAME.json`` (the record) and ``.md`` (the report, printed)."""
    rows = result["rows"]
    lines = [*report_head(result, "One small person in a wide frame: found and kept?", "small_person"),
             "| clips | in view | reported | found (IoU >= 0.3) | mean IoU |", "|---|---:|---:|---:|---:|"]
    groups = [("person < 0.3 of the height", [r for r in rows if r["height"] < 0.3]),
              ("person >= 0.3 of the height", [r for r in rows if r["height"] >= 0.3]), ("all", rows)]
    for label, part in groups:
        if part:
            lines.append(f"| {label} ({len(part)}) | {sum(r['in_view'] for r in part)} | "
                         f"{sum(r['reported'] for r in part)} | {sum(r['found'] for r in part)} | "
                         f"{np.mean([r['iou'] for r in part]):.3f} |")
    for mode, score in result.get("teacher", {}).items():
        lines += ["", f"Against MediaPipe Heavy's 2D ({score['frames']} labeled frames), {mode}: PCK@0.2 "
                      f"{score['pck']:.3f}, box IoU {score['box_iou']:.2f}."]
    lines += ["", "| clip | height | reported / in view | found | IoU |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['clip']} | {r['height']:.2f} | {r['reported']}/{r['in_view']} | {r['found']} | {r['iou']:.3f} |"
              for r in rows]
    save(RESULTS / name, result, "\n".join(lines) + "\n")


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], 16, "clips (every fourth starts with the person outside)",
                     "small_person", teacher=True)
    result = run(args.model, args.clips, args.sources)
    if args.pck:
        result["teacher"] = teacher_pck(args.model, clips(args.clips, args.sources), args.venv)
    write(result, args.name)


if __name__ == "__main__":
    main()
