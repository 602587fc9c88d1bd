"""Score exported models on labeled clips: the bench set (held-out synthetic world) and the sample clip.

Each clip is decoded by the runtime's own ``VideoSource`` at the model's input size and run through the
backend frame by frame (detector on every frame, no tracking, no smoothing: the model alone); outputs are
mapped to source pixels as ``tvstream run`` does. Per clip group (bench shard: scenario x background kind,
and the sample): PCK@0.2 of the 12 core joints (threshold 0.2 x the labeled torso diagonal), box IoU with
the labeled box, MPJPE and P-MPJPE of the pelvis-relative 3D joints (mm), and the model's ms/frame at batch 1.

Run: ``python -m benchmarks.pose_bench --model M.onnx [--model N.onnx ...] --bench data/bench [--name NAME]``;
writes ``benchmarks/results/NAME.{json,md}``. The bench set: ``python -m train.synth.world bench ...``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from train.posenet.evaluate import bench_model, clip_groups
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"


def markdown(results: list[dict], title: str) -> str:
    lines = [f"# {title}", "", f"Machine: {cpu_model()}; {time.strftime('%Y-%m-%d %H:%M')}. ONNX Runtime, CPU. "
             "Mode `model`: detector on every frame, no tracking or smoothing; `pipeline`: `tvstream run`'s path "
             "(crop follows the joints, One-Euro smoothing, frames not reported as detected count as misses); "
             "`labeled-box`: every labeled frame cropped around its labeled box (the pose head with a perfect "
             "detector). "
             "PCK@0.2: 12 core joints, 0.2 x the labeled torso diagonal. MPJPE / P-MPJPE: pelvis-relative, mm, "
             "over reported frames.", ""]
    for r in results:
        lines += [f"## `{r['model']}`, mode {r.get('mode', 'model')} (hash {r['hash']}, {r['onnx_bytes'] / 2**20:.1f} MB, "
                  f"{r['ms_per_frame']:.2f} ms/frame model-only at batch 1)", "",
                  "| clips | frames | PCK@0.2 | box IoU | MPJPE | P-MPJPE |", "|---|---:|---:|---:|---:|---:|"]
        for name, g in r["groups"].items():
            lines.append(f"| {name} | {g['frames']} | {g['pck']:.3f} | {g['box_iou']:.3f} | "
                         f"{g.get('mpjpe', float('nan')):.1f} | {g.get('p_mpjpe', float('nan')):.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="an exported .onnx (repeatable)")
    ap.add_argument("--bench", type=Path, default=None, help="the bench world (python -m train.synth.world bench)")
    ap.add_argument("--no-sample", action="store_true")
    ap.add_argument("--name", default="pose_bench")
    ap.add_argument("--pipeline", action="store_true",
                    help="score the product's path (tracking crop, smoothing, detected) instead of the model alone")
    ap.add_argument("--labeled-box", action="store_true",
                    help="crop every labeled frame around its labeled box: the pose head with a perfect detector")
    args = ap.parse_args(argv)
    groups = clip_groups(args.bench, not args.no_sample)
    mode = "labeled-box" if args.labeled_box else "pipeline" if args.pipeline else "model"
    results = [bench_model(m, groups, mode=mode) for m in args.model]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(results, "Pose accuracy on the bench set and the sample clip")
                                             + "\n")
    print(markdown(results, args.name))


if __name__ == "__main__":
    main()
