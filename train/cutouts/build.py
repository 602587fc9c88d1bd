"""Build the real-people training set: fetch the cut-outs, paste them into clips, let the teacher label them,
keep the labels on the pasted person, and build a pose-network training cache.

    python -m train.cutouts.build --out data/cutouts --venv .mpvenv --cache cache/posenet/cutouts

Every stage is kept and resumed: clips already written, labels already made (``tvstream label``'s cache) and a
cache already built are not done again. Mix the cache with the rendered world's (a folder holding both caches,
or ``train.posenet.cache.sample_cache`` of the world) for ``tvstream train posenet --cache``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from train.cutouts.composite import CompositeConfig, made_with, make_clip, sidecar
from train.cutouts.sources import SCRATCH, fetch
from tvstream.json_documents import write_text_atomic

SETTLE = 2  # frames after a cut whose teacher labels are not used (the teacher still follows the last person)
ON_PERSON = 0.8  # share of the teacher's visible core joints that must fall in the pasted person's box
BOX_GROW = 0.15  # the box grown by this share of its size per side for that test


def on_person(frame: dict, box: list[float]) -> bool:
    """Whether the teacher's frame is about the pasted person: ``ON_PERSON`` of its visible core joints lie in
    the person's box (grown by ``BOX_GROW``)."""
    from tvstream.skeleton import CORE_JOINTS

    x0, y0, x1, y1 = box
    gx, gy = (x1 - x0) * BOX_GROW, (y1 - y0) * BOX_GROW
    uv = np.asarray(frame["joints2d"], float)[list(CORE_JOINTS)]
    seen = np.asarray(frame["visible"], bool)[list(CORE_JOINTS)]
    if not seen.any():
        return False
    inside = (uv[:, 0] >= x0 - gx) & (uv[:, 0] <= x1 + gx) & (uv[:, 1] >= y0 - gy) & (uv[:, 1] <= y1 + gy)
    return bool(inside[seen].mean() >= ON_PERSON)


def keep_labels(teacher_doc: dict, paste: dict, width: int, height: int) -> dict:
    """The teacher's label document with only the frames to train on: found, plausible, settled after a cut,
    and on the pasted person; the joints the teacher makes up (pelvis, spine, neck, head) are not trusted."""
    from train.adapt.pipeline import plausible, trust_core_only

    starts = sorted(s["start"] for s in paste["shots"])
    kept = []
    for f in teacher_doc["frames"]:
        i = f["frame"]
        since_cut = i - max(s for s in starts if s <= i)
        if since_cut >= SETTLE and plausible(f, width, height) and on_person(f, paste["boxes"][i]):
            kept.append(trust_core_only(f))
    return {**teacher_doc, "frames": kept, "counts": {**teacher_doc.get("counts", {}), "kept": len(kept)}}


def main(argv: list[str] | None = None) -> dict:
    from tvstream.errors import TvstreamError

    try:
        return build(argv)
    except (TvstreamError, FileNotFoundError, ValueError) as exc:  # a missing teacher, package or folder: one line
        raise SystemExit(f"error: {exc}") from None


def build(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/cutouts"), help="the dataset folder (clips, labels)")
    ap.add_argument("--clips", type=int, default=CompositeConfig.clips)
    ap.add_argument("--plates", type=Path, action="append", default=[],
                    help="more background photos: a folder of images (repeatable; e.g. data/plates/train)")
    ap.add_argument("--teacher", default="mediapipe-heavy")
    ap.add_argument("--venv", type=Path, default=None, help="the teacher's venv (default: tvstream's)")
    ap.add_argument("--cache", type=Path, default=None, help="also build a training cache here")
    ap.add_argument("--model", default="full", help="the network size the cache is for (its detector's frame)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from tvstream.manifest import VideoEntry, write_manifest
    from tvstream.teacher.labeling import label_clips
    from tvstream.teacher.runner import open_teacher

    cfg = CompositeConfig(clips=args.clips, seed=args.seed)
    cutouts, backgrounds = fetch(args.out / "sources")
    for folder in args.plates:
        backgrounds += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    clips_dir = args.out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(cfg.clips):
        clip = clips_dir / f"paste_{i:04d}.mp4"
        if not made_with(clip, cfg):
            make_clip(clip, cutouts, backgrounds, cfg, np.random.default_rng([cfg.seed, i]))
        clips.append(clip)
        print(f"\rclips {i + 1}/{cfg.clips}", end="", file=sys.stderr)
    print(file=sys.stderr)

    teacher = open_teacher(args.teacher, args.venv)
    results, failures = label_clips(clips, teacher, args.out / "teacher",
                                    progress=lambda clip, done, total: print(f"\rteacher {clip.name} {done}",
                                                                             end="", file=sys.stderr))
    print(file=sys.stderr)
    entries, counts = [], {"frames": 0, "found": 0, "kept": 0}
    for result in results:
        paste = json.loads(sidecar(result.clip).read_text())
        doc = keep_labels(json.loads(result.out.read_text()), paste, cfg.width, cfg.height)
        labels = result.clip.with_suffix(".json")
        write_text_atomic(labels, json.dumps(doc, separators=(",", ":")) + "\n")
        counts = {k: counts[k] + doc["counts"].get(k, 0) for k in counts}
        if doc["frames"]:
            entries.append(VideoEntry(video=result.clip, labels=labels, subject=result.clip.stem,
                                      sequence=result.clip.stem))
    write_manifest(args.out / "manifest.json", entries)
    report = {"source": SCRATCH.spec, "licence": SCRATCH.licence, "clips": len(clips), "labeled_clips": len(entries),
              "failed": [f"{c.name}: {e}" for c, e in failures], **counts, "teacher": teacher.describe()}
    if args.cache is not None:
        from train.posenet.cache import CACHE_SIDE, build_cache
        from train.posenet.config import SIZES

        report["cache"] = build_cache(args.out, args.cache, CACHE_SIDE, SIZES[args.model].detector_size)["frames"]
    write_text_atomic(args.out / "report.json", json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "teacher"}))
    return report


if __name__ == "__main__":
    main()
