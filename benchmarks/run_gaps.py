"""Where the run loses what the head can read: every labeled clip through ``tvstream run``, with the detector on every
frame, and cropped on its labeled boxes, side by side, the clips with the widest gap first.

A clip whose head reads well on the labeled box (``labeled-box``) but poorly through the run (``pipeline``) is
one the runtime's choices lose: a crop on the wrong thing, a track that follows a false peak, a sure read
withheld. Session 31 found its three runtime fixes from this list (``benchmarks/results/s31_rule.md``); the
clips where the head itself fails stay low in all three columns.

Run: ``python -m benchmarks.run_gaps --model M.onnx --bench data/bench [--groups bench_dive,...] [--top 15]``;
writes ``benchmarks/results/NAME.{md,json}`` (``--name``, default ``run_gaps``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.posenet.evaluate import MODES, ClipReader, clip_groups, score_clip, summarise
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"


def clip_rows(reader: ClipReader, groups: dict[str, list[tuple[Path, Path]]]) -> list[dict]:
    """One row per clip: its group, name, PCK@0.2 in each of :data:`MODES`, the run's box IoU, and ``gap`` (the
    labeled box's PCK less the run's), widest gap first."""
    rows = []
    for group, clips in groups.items():
        for video, labels in clips:
            scores = {mode: summarise([score_clip(reader.outputs(group, video, labels, mode), labels)])
                      for mode in MODES}
            rows.append({"group": group, "clip": video.stem, **{mode: scores[mode]["pck"] for mode in MODES},
                         "run_box_iou": scores["pipeline"]["box_iou"],
                         "gap": scores["labeled-box"]["pck"] - scores["pipeline"]["pck"]})
    return sorted(rows, key=lambda r: -r["gap"])


def markdown(rows: list[dict], model: str, top: int) -> str:
    lines = [f"# Where the run loses what the head can read ({cpu_model()})", "",
             f"Model `{model}`. PCK@0.2 of the 12 core joints per clip: through `tvstream run` (`pipeline`), the "
             "detector on every frame (`model`), cropped on the labeled boxes (`labeled-box`); `gap` = labeled box "
             f"less run. The {min(top, len(rows))} widest gaps of {len(rows)} clips (`benchmarks/run_gaps.py`).", "",
             "| group | clip | run | model | labeled box | gap | run box IoU |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['group']} | {r['clip']} | {r['pipeline']:.3f} | {r['model']:.3f} | {r['labeled-box']:.3f} | "
              f"{r['gap']:+.3f} | {r['run_box_iou']:.2f} |" for r in rows[:top]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="an exported .onnx")
    ap.add_argument("--bench", type=Path, default=None, help="the bench world (python -m train.synth.world bench)")
    ap.add_argument("--groups", default=None, help="comma-separated groups (default: every bench group and the "
                                                   "sample clip, sample_ski)")
    ap.add_argument("--no-sample", action="store_true")
    ap.add_argument("--top", type=int, default=15, help="clips listed in the markdown (the json has all)")
    ap.add_argument("--name", default="run_gaps")
    args = ap.parse_args(argv)
    groups = clip_groups(args.bench, not args.no_sample)
    if args.groups:
        wanted = args.groups.split(",")
        unknown = sorted(set(wanted) - set(groups))
        if unknown:
            raise SystemExit(f"error: no clip group {', '.join(unknown)} (there are: {', '.join(groups)})")
        groups = {g: groups[g] for g in wanted}
    rows = clip_rows(ClipReader(args.model), groups)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"model": args.model, "clips": rows}, indent=1) + "\n")
    text = markdown(rows, args.model, args.top)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
