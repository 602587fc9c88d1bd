"""How much the self-supervision buys on one trained run: Ours' frozen features against the same network trained
from scratch on the same labeled frames (and against Ours fine-tuned end to end).

Run: ``python -m benchmarks.supervised_baseline RUN [--fractions 0.01,0.1] [--finetune-steps 1000]`` where
RUN is a ``tvstream train ssl`` run (``Ours``, studio data with a labeled pool and held-out test subjects).
Cells are the ablation's (``benchmarks/ablation.py:pose_cell``, written under RUN and reused by it), so a run
scored here is not scored again there. Writes ``benchmarks/results/supervised_baseline.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.ablation import DERIVED_ROWS, RESULTS, pose_cell
from benchmarks.notes import hand_notes
from tvstream.sysinfo import cpu_model

RECIPES = {"Ours (frozen)": ("ssl", False), "supervised": DERIVED_ROWS["supervised"],
           "Ours fine-tuned": DERIVED_ROWS["Ours fine-tuned"], "random (frozen)": DERIVED_ROWS["random"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--fractions", type=lambda s: tuple(float(f) for f in s.split(",")), default=(0.01, 0.1))
    ap.add_argument("--pose-steps", type=int, default=2000)
    ap.add_argument("--finetune-steps", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=RESULTS / "supervised_baseline")
    args = ap.parse_args(argv)
    from train.checkpoint import load_checkpoint

    config = load_checkpoint(args.run / "last.pt")["config"]
    table: dict[str, dict] = {}
    for fraction in args.fractions:
        for name, (init, finetune) in RECIPES.items():
            tic = time.perf_counter()
            scored = pose_cell(args.run, fraction, init=init, steps=args.pose_steps,
                               finetune_steps=args.finetune_steps if finetune else 0)
            table.setdefault(name, {})[f"{fraction:g}"] = {
                **{m: scored[m] for m in ("n_mpjpe", "mpjpe", "p_mpjpe", "mean_pose_n_mpjpe")},
                "frames": scored["train"]["frames"], "minutes": round((time.perf_counter() - tic) / 60, 1)}
            write(table, config, args)
    print(args.out.with_suffix(".md").read_text())


def write(table: dict, config: dict, args: argparse.Namespace) -> None:
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
              "run": str(args.run), "ssl": {k: config.get(k) for k in ("variant", "model", "steps", "data")},
              "finetune_steps": args.finetune_steps, "pose_steps": args.pose_steps, "rows": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    fractions = [f"{f:g}" for f in args.fractions]
    lines = ["# Self-supervised features against the supervised-from-scratch baseline (held-out subjects, mm)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores); {result['date']}. "
             f"SSL run `{config.get('variant')}` `{config.get('model')}`, {config.get('steps')} steps on "
             f"`{Path(str(config.get('data'))).name}`. Regressor MLP 2x2048, {args.pose_steps} steps; the fine-tuned "
             f"rows then train detector, encoder and regressor together for {args.finetune_steps} steps on the same "
             "labeled frames (`supervised`: from random weights).", "",
             "| recipe | " + " | ".join(f"N-MPJPE {float(f) * 100:g}% (frames)" for f in fractions)
             + " | P-MPJPE " + " | P-MPJPE ".join(f"{float(f) * 100:g}%" for f in fractions) + " |",
             "|---|" + "---:|" * (2 * len(fractions))]
    for name, cells in table.items():
        n = " | ".join(f"{cells[f]['n_mpjpe']:.1f} ({cells[f]['frames']})" if f in cells else "-" for f in fractions)
        p = " | ".join(f"{cells[f]['p_mpjpe']:.1f}" if f in cells else "-" for f in fractions)
        lines.append(f"| {name} | {n} | {p} |")
    floor = next(iter(table.values()))
    lines.append("| mean pose | " + " | ".join(f"{floor[f]['mean_pose_n_mpjpe']:.1f}" if f in floor else "-"
                                             for f in fractions) + " |" + " - |" * len(fractions))
    args.out.with_suffix(".md").write_text("\n".join(lines + hand_notes(args.out)) + "\n")


if __name__ == "__main__":
    main()
