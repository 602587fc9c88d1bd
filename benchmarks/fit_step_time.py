"""Seconds per step of the pose network's training (``train.posenet.fit``) with its convolutions channels-last
or not, on the CPU, and whether the two train the same network.

Run: ``python -m benchmarks.fit_step_time --run WORK/run/last.pt`` where the checkpoint is any pose-network run's
(``tvstream adapt``'s fine-tuning: ``VENUE.adapt/run/last.pt``): its configuration, cache and start are taken
as they are, only the steps and the memory format change. The two settings alternate (``--rounds`` each) in one
process on the same machine, each run from the same start and the same seed, so their losses after ``--steps``
steps should agree to float rounding. Writes ``benchmarks/results/fit_step_time.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.provenance import machine, save
from train.checkpoint import load_checkpoint
from train.posenet.fit import FitConfig, fit

RESULTS = Path(__file__).parent / "results"
WARM_UP = 3  # steps left out of the median (allocators, the first batches read)


def timed_run(cfg: FitConfig, folder: Path) -> dict:
    """Train ``cfg`` into ``folder``: the median seconds a step after the warm-up, the run's wall time and its last
    loss."""
    steps: list[float] = []
    tic = time.perf_counter()
    last = fit(cfg, folder, progress=lambda _step, _total, stats: steps.append(stats["s_per_step"]))
    return {"s_per_step": statistics.median(steps[WARM_UP:]), "wall_s": time.perf_counter() - tic,
            "loss": last["loss"]}


def measure(base: FitConfig, rounds: int) -> list[dict]:
    """``rounds`` runs of ``base`` in each memory format, alternating."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for channels_last in (False, True):
                cfg = replace(base, channels_last=channels_last)
                row = timed_run(cfg, Path(tmp) / f"{r}_{channels_last}")
                rows.append({"round": r, "channels_last": channels_last} | row)
                print(rows[-1], flush=True)
    return rows


def report(result: dict) -> str:
    rows, cfg = result["rows"], result["config"]

    def median(flag: bool, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["channels_last"] == flag)

    before, after = median(False, "s_per_step"), median(True, "s_per_step")
    losses = [r["loss"] for r in rows]
    spread = (max(losses) - min(losses)) / abs(statistics.mean(losses))
    lines = ["# Pose-network training step, channels-last or not (CPU)", "",
             f"Machine: {result['header']}; {result['date']}. `train.posenet.fit` with the configuration of "
             f"`{result['run']}` (model `{cfg['model']}`, part `{cfg['part']}`, batch {cfg['batch']}, "
             f"{cfg['threads']} threads, its cache and start), {result['steps']} steps a run, the two memory formats "
             f"alternating, {result['rounds']} runs each; s/step is the median after {WARM_UP} warm-up steps.", "",
             "| round | channels-last | s/step | wall s | loss after the last step |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r['round']} | {'yes' if r['channels_last'] else 'no'} | {r['s_per_step']:.3f} | {r['wall_s']:.1f} | "
              f"{r['loss']:.6f} |" for r in rows]
    lines += ["", f"Channels-last: **{before / after:.2f}x** the steps a second ({before:.3f} -> {after:.3f} s a step; "
              f"medians over the runs). The last losses of all runs lie within {spread:.1e} of their mean: the same "
              "training to float rounding (the convolutions add the same products in another order)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a pose-network run's checkpoint (its config is used)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "fit_step_time")
    args = ap.parse_args(argv)
    if not args.run.is_file():
        raise SystemExit(f"error: {args.run}: no such checkpoint")
    cfg = FitConfig.from_dict(load_checkpoint(args.run)["config"]["fit"])
    if cfg.device != "cpu":
        raise SystemExit(f"error: {args.run} trained on {cfg.device}; this benchmark times the CPU")
    base = replace(cfg, steps=args.steps, eval_every=10**9, checkpoint_every=10**9)
    record, header = machine()
    result = {"machine": record, "header": header, "date": time.strftime("%Y-%m-%d %H:%M"), "run": str(args.run),
              "steps": args.steps, "rounds": args.rounds, "config": base.to_dict(),
              "rows": measure(base, args.rounds)}
    save(args.out, result, report(result))


if __name__ == "__main__":
    main()
