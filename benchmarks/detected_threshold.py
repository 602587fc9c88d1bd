"""When is a frame ``detected``? The core-joint confidence threshold (``RunOptions.min_conf``) against what it
costs: PCK@0.2 through ``tvstream run`` on labeled clips (a withheld frame counts as misses), and skeletons reported
while the athlete is fully hidden (the pillar and wall clips of ``benchmarks/keep_athlete.py``: nobody to draw).

Run: ``python -m benchmarks.detected_threshold --world-cache cache/posenet/world [--values 0.3,0.15,0]
[--seeds 16]`` on the clips training held out (where a value may be chosen), or ``--bench data/bench`` (the test
set: check the choice once). One process per value (``--workers``). Results:
``benchmarks/results/detected_threshold_world.{json,md}`` / ``detected_threshold.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save

RESULTS = Path(__file__).parent / "results"


def measure(min_conf: float, groups: dict[str, list[tuple[Path, Path]]], seeds: int, model: str | None = None) -> dict:
    """One threshold: PCK through the run on ``groups`` of labeled clips, share reported, and reports during
    full occlusions."""
    from benchmarks.keep_athlete import clips
    from engines.backends import load_backend
    from train.posenet.evaluate import pipeline_outputs, scenario_of, score_clip, summarise
    from tvstream.api import DEFAULT_MODEL
    from tvstream.labels import load_labels
    from tvstream.pipeline import RunOptions
    from tvstream.skeleton import CORE_JOINTS

    backend = load_backend(str(model or DEFAULT_MODEL), "onnxruntime", threads=1)
    options = RunOptions(min_conf=min_conf)
    parts, reported, frames = [], 0, 0
    for name, group in groups.items():
        for video, labels in group:
            out, _ = pipeline_outputs(backend, video, scenario_of(name), options)
            parts.append(score_clip(out, labels))
            reported += int(np.isfinite(out["pose2d"]).all((1, 2)).sum())
            frames += len(out["pose2d"])
    hidden = shown = 0
    for _, clip in clips(seeds):
        if clip.kind not in ("pillar", "wall"):
            continue
        out, _ = pipeline_outputs(backend, clip.video, "studio", options)
        gone = ~load_labels(clip.labels).visible[:, list(CORE_JOINTS)].any(axis=1)[:len(out["pose2d"])]
        hidden += int(gone.sum())
        shown += int((gone & np.isfinite(out["pose2d"]).all((1, 2))).sum())
    return {"min_conf": min_conf, **summarise(parts), "reported": reported / max(frames, 1),
            "hidden_frames": hidden, "reported_while_hidden": shown / max(hidden, 1)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--bench", type=Path, help="the bench world (python -m train.synth.world bench): the test set")
    where.add_argument("--world-cache", type=Path, help="a training cache (cache/posenet/world): its held-out "
                       "clips, never trained on, where a threshold may be chosen")
    ap.add_argument("--val-every", type=int, default=40, help="the training's held-out share (FitConfig.val_every, "
                    "40 unless the run set another)")
    ap.add_argument("--values", default="0.3,0.15,0", help="min_conf values, comma-separated (0.3: the default)")
    ap.add_argument("--seeds", type=int, default=16, help="occlusion clips per kind (pillar, wall)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--model", default=None, help="an exported .onnx (default: the shipped model)")
    ap.add_argument("--name", default=None, help="results file name (default: detected_threshold[_world])")
    args = ap.parse_args(argv)
    from train.posenet.cache import held_out_clips
    from train.posenet.evaluate import clip_groups

    values = [float(v) for v in args.values.split(",")]
    groups = clip_groups(args.bench, sample=False) if args.bench else held_out_clips(args.world_cache, args.val_every)
    clips = "bench" if args.bench else f"held-out world ({sum(map(len, groups.values()))} clips)"
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(measure, values, [groups] * len(values), [args.seeds] * len(values),
                             [args.model] * len(values)))
    record, header = machine()
    lines = [f"# When a frame is `detected`: the core-confidence threshold, {header}", "",
             f"{'Shipped model' if args.model is None else f'`{args.model}`'}, `tvstream run`'s path on every "
             f"{clips} clip (a withheld frame counts as misses) and on "
             f"the pillar and wall clips of `keep_athlete.py` ({args.seeds} each), where the athlete is fully "
             "hidden for 0.6-1.3 s: a skeleton reported then is drawn on nobody.", "",
             f"| min_conf | {clips} PCK@0.2 through run | frames reported | MPJPE mm (reported) | "
             "reported while the athlete is hidden |", "|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['min_conf']:.2f} | {r['pck']:.3f} | {r['reported']:.1%} | {r['mpjpe']:.1f} | "
                     f"{r['reported_while_hidden']:.1%} of {r['hidden_frames']} |")
    name = args.name or ("detected_threshold" if args.bench else "detected_threshold_world")
    save(RESULTS / name, {"machine": record, "clips": clips, "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows},
         "\n".join(lines) + "\n")
    return {"rows": rows}


if __name__ == "__main__":
    main()
