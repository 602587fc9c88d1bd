"""Two real people in view the whole clip: does the run keep the nearer one? A run-level check, by boxes.

Run: ``python -m benchmarks.two_people --model M.onnx --name NAME [--clips 12]``; writes
``benchmarks/results/NAME.{json,md}``. Each clip (made once into ``benchmarks/.clips/two_people/``) pastes two
photographed people of ``train.cutouts`` (standing ones: taller than twice their width; two different people) over a
background photo of the same package, 3 s at 25 fps: the athlete nearer (taller, pasted over the other) walks a
third of the frame's width while the other, farther (0.8-0.95 x its height), walks past it the other way, behind it.
Even clips are portrait (360 x 640, the run's upright path), odd ones landscape (640 x 360).

The pasted boxes are the labels. Each reported frame's skeleton is given a box (its joints' extent) and is *on* the
person whose box it overlaps more (IoU). Per clip: frames reported, on the athlete, on the other, and the mean IoU
with the athlete's box over all frames (a frame not reported counts 0). Which person a viewer calls the athlete is
a convention (the run's ``--select largest`` takes the bigger box), so read the models' differences, not the
absolute numbers. The people are the landmark tune's real cut-outs, so this measures the run's choice of person,
not how well a head reads them. Session 57: on the first 12 clips' portrait half the hold family's models (SOUPX, XR)
stayed on the other person longer than the default (mean IoU 0.509 / 0.522 against 0.561), the sign of the held-out
Pose2Sim two-person clip; over 24 clips the gap shrank to 0.497 against 0.512 (a weak, noisy separator at this size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.pasted_people import SOURCES, arguments, made_clips, report_head, scored_runs
from benchmarks.provenance import save

RESULTS = Path(__file__).parent / "results"
CLIPS = Path(__file__).parent / ".clips" / "two_people"
FRAMES = 75
FPS = 25.0


def standing(people: list[Path]) -> list[Path]:
    """The cut-outs of a standing person (taller than twice its width), not acrobatic, crouching or seated ones."""
    from train.cutouts.composite import read_cutout

    shapes = ((p, read_cutout(p).shape) for p in people)
    return [p for p, (h, w, _) in shapes if h >= 2.0 * w]


def make_clip(path: Path, seed: int, standing: list[Path], backgrounds: list[Path], frames: int = FRAMES) -> dict:
    """Clip ``seed`` at ``path`` (H.264) of two of the ``standing`` cut-outs (:func:`standing`) and its record: the
    two people's names, its size and per frame the athlete's and the other's pasted box ``[x0, y0, x1, y1]`` (px)."""
    from train.cutouts.composite import cover, paste, read_background, read_cutout
    from tvstream.video_writer import VideoWriter

    rng = np.random.default_rng(1000 + seed)
    width, height = (360, 640) if seed % 2 == 0 else (640, 360)
    a, b = rng.choice(len(standing), 2, replace=False)
    while standing[a].name[:3] == standing[b].name[:3]:  # the same person's cut-outs share a name
        b = rng.integers(len(standing))
    near, far = (read_cutout(standing[i]).astype(np.float32) for i in (a, b))
    plate = cover(read_background(backgrounds[rng.integers(len(backgrounds))]), width, height, rng)
    h_near = rng.uniform(0.6, 0.75) * height
    h_far = h_near * rng.uniform(0.8, 0.95)
    rightward = rng.random() < 0.5
    near_x = (0.3, 0.6) if rightward else (0.7, 0.4)
    far_x = (0.85, 0.2) if rightward else (0.15, 0.8)
    near_y, far_y = rng.uniform(0.9, 0.98) * height, rng.uniform(0.8, 0.88) * height
    boxes = []
    with VideoWriter(path, width, height, FPS, crf=23) as out:
        for t in np.linspace(0, 1, frames):
            image, far_box = paste(plate, far, np.interp(t, (0, 1), far_x) * width, far_y, h_far, 0.8)
            image, near_box = paste(image, near, np.interp(t, (0, 1), near_x) * width, near_y, h_near, 0.8)
            out.write(np.clip(image, 0, 255).astype(np.uint8))
            boxes.append([near_box, far_box])
    return {"athlete": standing[a].stem, "other": standing[b].stem, "size": [width, height], "boxes": boxes}


def clips(count: int, sources: Path) -> list[tuple[Path, dict]]:
    """The benchmark's clips and their records, made when missing."""
    from train.cutouts.sources import fetch

    people, backgrounds = fetch(sources)
    people = standing(people)  # read once, not per clip
    return made_clips(count, CLIPS, "two", lambda video, seed: make_clip(video, seed, people, backgrounds))


def score_frames(poses: list[np.ndarray | None], boxes: list) -> dict:
    """``poses``: per frame the reported 2D joints ``(J, 2)`` (px) or None; ``boxes``: per frame the athlete's and
    the other's box. A skeleton is on whichever box its joints' extent overlaps more (a tie is the athlete's)."""
    from train.ssl.box_eval import box_iou

    shown = [i for i, pose in enumerate(poses) if pose is not None]
    extent = np.array([np.concatenate([poses[i].min(0), poses[i].max(0)]) for i in shown]).reshape(-1, 4)
    pair = np.asarray(boxes, float).reshape(-1, 2, 4)[shown]
    mine, theirs = box_iou(extent, pair[:, 0]), box_iou(extent, pair[:, 1])
    on_athlete = int((mine >= theirs).sum())
    return {"frames": len(poses), "reported": len(shown), "on_athlete": on_athlete, "on_other": len(shown) - on_athlete,
            "iou_athlete": float(mine.sum() / len(poses)) if poses else 0.0}


def run(model: str, count: int, sources: Path) -> dict:
    def score(record: dict, poses: list) -> dict:
        shape = "portrait" if record["size"][1] > record["size"][0] else "landscape"
        return {"shape": shape, **score_frames(poses, record["boxes"])}

    return scored_runs(model, clips(count, sources), score)


def write(result: dict, name: str) -> None:
    """``benchmarks/results/NAME.json`` (the record) and ``.md`` (the report, printed)."""
    lines = [*report_head(result, "Two people in view: is the nearer one kept?", "two_people"),
             "| clips | frames | reported | on the athlete | on the other | mean IoU with the athlete |",
             "|---|---:|---:|---:|---:|---:|"]
    groups = [(s, [r for r in result["rows"] if r["shape"] == s]) for s in ("portrait", "landscape")]
    for label, part in groups + [("all", result["rows"])]:
        if part:
            lines.append(f"| {label} | {sum(r['frames'] for r in part)} | {sum(r['reported'] for r in part)} | "
                         f"{sum(r['on_athlete'] for r in part)} | {sum(r['on_other'] for r in part)} | "
                         f"{np.mean([r['iou_athlete'] for r in part]):.3f} |")
    lines += ["", "| clip | shape | reported | on the athlete | on the other | IoU |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['clip']} | {r['shape']} | {r['reported']}/{r['frames']} | {r['on_athlete']} | {r['on_other']} | "
              f"{r['iou_athlete']:.3f} |" for r in result["rows"]]
    save(RESULTS / name, result, "\n".join(lines) + "\n")


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], 12, "clips (even ones portrait, odd ones landscape)", "two_people")
    write(run(args.model, args.clips, args.sources), args.name)


if __name__ == "__main__":
    main()
