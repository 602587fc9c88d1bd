"""Score a model through the run on the design sets: each rendered shard's first clips, which no tune trains on.

``train.landmark_tune`` leaves each rendered shard's first ``skip_clips`` (6) clips out of its crops: they are the
design sets candidates are judged on (rules in ``benchmarks/results/s*_rule.md``), apart from the bench set, which
is measured once per decision. Each shard is one group (its name sets the run's scenario, as on the bench); the
pooled row is every design clip's frames. Modes as ``pose_bench.py`` (``pipeline``, the product's path, by default).

Run: ``python -m benchmarks.design_sets --model M.onnx --design data/design --design data/design2 ... --name NAME``;
writes ``benchmarks/results/NAME.{json,md}`` (or ``--out DIR``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.pose_bench import markdown
from benchmarks.provenance import save
from train.landmark_tune.crops import render_shards
from train.posenet.evaluate import MODES, bench_model
from tvstream.errors import LabelError
from tvstream.manifest import discover

RESULTS = Path(__file__).parent / "results"
DESIGN_CLIPS = 6  # LandmarkTuneConfig.skip_clips: the clips of a shard the tune never cuts crops from
POOLED = "design (all)"


def design_groups(folders: list[Path], clips: int = DESIGN_CLIPS) -> dict[str, list[tuple[Path, Path]]]:
    """Shard name -> its first ``clips`` labeled ``(video, labels)`` pairs, for every shard in ``folders`` (as the
    tune finds them: ``train.landmark_tune.crops.render_shards``). Refuses two shards of one name (their groups
    would mix); a folder without shards is refused there."""
    groups: dict[str, list[tuple[Path, Path]]] = {}
    for shard in render_shards(tuple(str(f) for f in folders)):
        if shard.name in groups:
            raise LabelError(f"two design shards named {shard.name} ({shard})")
        groups[shard.name] = [(Path(e.video), Path(e.labels)) for e in discover(shard) if e.labels][:clips]
    return groups


def score(model: str, groups: dict[str, list[tuple[Path, Path]]], mode: str = "pipeline") -> dict:
    """``bench_model``'s scores on the design groups, the pooled row named :data:`POOLED`."""
    result = bench_model(model, groups, mode=mode)
    result["groups"][POOLED] = result["groups"].pop("bench (all)")
    return result


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="an exported .onnx (repeatable)")
    ap.add_argument("--design", action="append", type=Path, required=True, metavar="DIR",
                    help="a rendered world folder or shard (repeatable)")
    ap.add_argument("--clips", type=int, default=DESIGN_CLIPS, help="each shard's first clips (the tune's skip_clips)")
    ap.add_argument("--mode", choices=MODES, default="pipeline")
    ap.add_argument("--name", default="design_sets")
    ap.add_argument("--out", type=Path, default=RESULTS, help="the results folder")
    args = ap.parse_args(argv)
    try:
        groups = design_groups(args.design, args.clips)
    except LabelError as exc:
        raise SystemExit(f"error: {exc}") from None
    results = [score(m, groups, args.mode) for m in args.model]
    shards = ", ".join(f"{name} ({len(clips)} clips)" for name, clips in groups.items())
    save(args.out / args.name, {"design": [str(d) for d in args.design], "models": results},
         markdown(results, f"Design sets ({shards}), mode {args.mode}") + "\n")
    return {"models": results}


if __name__ == "__main__":
    main()
