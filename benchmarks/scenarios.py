"""Venue scenarios on synthetic held-out athletes: gravity pretraining for diving, Ours vs DSL for skiing.

Run: ``python -m benchmarks.scenarios [--steps 1000] [--only dive,ski] [--work DIR]`` (CPU: about 20 minutes
per dive run and 20 per ski Ours run at the default steps). It renders one venue per scenario (8 athletes
split into unlabeled / labeled / test, the recipe of ``examples/venue_workflow.sh``), trains every run of
``RUNS`` with the ``small`` config and the same steps, reads the pose out with the same regressor recipe from
the labeled pool (``--fractions``), and writes ``benchmarks/results/scenarios.{json,md,png}``:

- dive: box IoU on the test athletes every 50 steps, the first step with IoU >= 0.5 (the paper: 50K
  iterations without gravity pretraining, 5K with), and N-MPJPE with and without the gravity loss (the
  paper: +21% without), each with and without the foreground box term;
- ski: N-MPJPE of Ours (detector + decoder, panorama background) against DSL (the whole frame).

``--seeds 0,1,2`` trains each run once per SSL seed (seed 0 in ``runs/<run>``, seed k in ``runs/<run>-s<k>``); the
table gives the N-MPJPE mean and spread over the seeds there are, and the IoU columns of each seed. Runs resume
from their checkpoints and finished read-outs are not redone, so the table fills over sittings.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.notes import hand_notes
from benchmarks.provenance import MACHINE_HELP, machine

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / ".scenarios"  # ignored by git
DATA_RECIPE = {"subjects": 8, "sequences": 2, "seconds": 4.0, "width": 640, "height": 360, "seed": 3}
FRACTIONS = (1.0,)  # the labeled pool: 2 athletes x 2 takes x 100 frames
IOU_GOAL = 0.5
IOU_EARLY = 0.2  # a second, lower bar: on CPU budgets a 2-7%-wide diver may not reach 0.5


@dataclass(frozen=True)
class ScenarioRun:
    """One row: a scenario preset with overrides (``--set`` syntax)."""

    name: str
    scenario: str
    overrides: tuple[str, ...] = ()
    about: str = ""


RUNS = (
    ScenarioRun("dive: gravity pretraining + fg", "dive", (), "the dive preset: 500 steps gravity + reconstruction, "
                "then DSL; foreground term"),
    ScenarioRun("dive: no gravity + fg", "dive", ("variant=Ours", "gravity_steps=0"),
                "Ours from step 0; foreground term"),
    ScenarioRun("dive: gravity pretraining", "dive", ("weights.foreground=0",), "the paper's dive recipe"),
    ScenarioRun("dive: no gravity", "dive", ("variant=Ours", "gravity_steps=0", "weights.foreground=0"),
                "the paper's losses without the gravity stage"),
    ScenarioRun("ski: Ours + fg", "ski", (), "the ski preset: panorama background, lambda = 0.05, the foreground "
                "term, boxes down to 5% of the frame, no box prior"),
    ScenarioRun("ski: Ours", "ski", ("weights.foreground=0", "weights.box_prior=1", "min_box=0.2"),
                "the paper's losses: panorama background, lambda = 0.05, the box prior, boxes >= 40% of the frame"),
    ScenarioRun("ski: DSL", "ski", ("variant=DSL",), "DSL on the whole frame (no detector, no decoder)"),
)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def make_data(scenario: str, work: Path) -> Path:
    """The venue of ``scenario`` (rendered once)."""
    from train.synth.generate import SynthConfig, synthesize

    data = work / f"data-{scenario}"
    if not (data / "manifest.json").is_file():
        r = DATA_RECIPE
        synthesize(SynthConfig(scenario=scenario, subjects=r["subjects"], sequences=r["sequences"],
                               seconds=r["seconds"], width=r["width"], height=r["height"], seed=r["seed"]), data)
    return data


def run_dir(work: Path, name: str, seed: int) -> Path:
    return work / "runs" / (slug(name) + (f"-s{seed}" if seed else ""))


def seeds_on_disk(work: Path, name: str) -> list[int]:
    tails = [p.name[len(slug(name)) + 2:] for p in (work / "runs").glob(slug(name) + "-s*")]
    return sorted(([0] if run_dir(work, name, 0).is_dir() else []) + [int(t) for t in tails if t.isdigit()])


def train_run(run: ScenarioRun, data: Path, work: Path, steps: int, workers: int, seed: int = 0,
              size: str = "small") -> Path:
    from train.ssl.config import apply_overrides, config_for
    from train.ssl.fit import fit

    out = run_dir(work, run.name, seed)
    cfg = apply_overrides(config_for(run.scenario), [*run.overrides, f"model={size}", f"data={data}", f"steps={steps}",
                                                     f"seed={seed}",
                                                     f"workers={workers}", "eval_every=50", "image_every=500",
                                                     f"cache_dir={work / ('cache-' + run.scenario)}"])
    done = out / "done.json"
    if not done.is_file():
        tic = time.perf_counter()
        fit(cfg, out, resume=(out / "last.pt").is_file())
        done.write_text(json.dumps({"minutes": round((time.perf_counter() - tic) / 60, 1)}) + "\n")
    return out


def read_out(run_dir: Path, fraction: float, steps: int) -> dict:
    """N-MPJPE etc. of the standard regressor on ``run_dir``'s frozen features, on the test athletes."""
    from train.checkpoint import load_checkpoint
    from train.pose.evaluate import evaluate_pose
    from train.pose.fit import PoseConfig, fit_pose

    pose_dir = run_dir / f"pose-{fraction:g}"
    scored = pose_dir / "eval_test.json"
    if not scored.is_file():
        ckpt = run_dir / "last.pt"
        cfg = PoseConfig(features=str(ckpt), data=load_checkpoint(ckpt)["config"]["data"], fraction=fraction,
                         regressor="mlp", steps=steps)
        fit_pose(cfg, pose_dir, cache_dir=run_dir / "pose-cache")
        evaluate_pose(pose_dir, "test", cache_dir=run_dir / "pose-cache")
    return json.loads(scored.read_text())


def iou_curve(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{"step": r["step"], "box_iou": r["box_iou"], "frac_0.5": r["box_iou_frac_0.5"]}
            for r in rows if r["stage"] == "eval"]


def seed_record(run_dir: Path, fractions: tuple[float, ...]) -> dict:
    """One seed of one run: its IoU curve, first steps over the bars, and read-out cells."""
    curve = iou_curve(run_dir)
    first = {bar: next((c["step"] for c in curve if c["box_iou"] >= bar), None) for bar in (IOU_EARLY, IOU_GOAL)}
    cells = {f"{f:g}": json.loads(p.read_text()) for f in fractions
             if (p := run_dir / f"pose-{f:g}" / "eval_test.json").is_file()}
    done = run_dir / "done.json"
    config = json.loads((run_dir / "config.json").read_text())
    return {"curve": curve, "first_step_iou": {f"{bar:g}": step for bar, step in first.items()},
            "final_iou": curve[-1]["box_iou"] if curve else None,
            "best_iou": max((c["box_iou"] for c in curve), default=None),
            "steps": config["steps"], "variant": config["variant"],
            "minutes": json.loads(done.read_text())["minutes"] if done.is_file() else None,
            "cells": {f: {m: c[m] for m in ("n_mpjpe", "mpjpe", "p_mpjpe", "mean_pose_n_mpjpe")}
                      for f, c in cells.items()}}


def collect(work: Path, fractions: tuple[float, ...]) -> dict:
    """Per run: seed 0's record (or the first seed's) at the top level, every seed under ``seeds`` and the
    read-out's mean and spread over the seeds that have one under ``mean``."""
    rows = {}
    for run in RUNS:
        seeds = {s: seed_record(run_dir(work, run.name, s), fractions) for s in seeds_on_disk(work, run.name)
                 if (run_dir(work, run.name, s) / "metrics.jsonl").is_file()}
        if not seeds:
            continue
        mean = {}
        for f in {f for rec in seeds.values() for f in rec["cells"]}:
            scored = [rec["cells"][f] for rec in seeds.values() if f in rec["cells"]]
            mean[f] = {m: sum(c[m] for c in scored) / len(scored) for m in scored[0]} | {
                "seeds": len(scored), "n_mpjpe_spread": max(c["n_mpjpe"] for c in scored) - min(
                    c["n_mpjpe"] for c in scored)}
        rows[run.name] = {"about": run.about, "overrides": list(run.overrides)} | next(iter(seeds.values())) | {
            "seeds": {str(s): rec for s, rec in seeds.items()}, "mean": mean}
    return rows


def write_results(rows: dict, args: argparse.Namespace, out: Path) -> None:
    record, where = machine(args.machine)
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"),
              "data": DATA_RECIPE, "steps": args.steps, "config": args.config, "pose_steps": args.pose_steps,
              "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    heads = " | ".join(f"N-MPJPE {float(f) * 100:g}%" for f in map(str, args.fractions))
    lines = ["# Venue scenarios: diving with and without gravity pretraining, skiing Ours vs DSL", "",
             f"Machine: {where}; {result['date']}. "
             f"Each venue: {DATA_RECIPE['subjects']} synthetic athletes x {DATA_RECIPE['sequences']} takes of "
             f"{DATA_RECIPE['seconds']:g} s at {DATA_RECIPE['width']}x{DATA_RECIPE['height']} (4 unlabeled, "
             f"2 labeled, 2 held out). `{args.config}` config, the same steps per run; regressor MLP 2x2048 on "
             f"frozen features, {args.pose_steps} steps, at a share of the labeled pool. Errors in mm on the "
             f"held-out athletes. Box IoU on the test athletes every 50 steps; 'IoU >= {IOU_GOAL}' is the first "
             "evaluation at or above it.", "",
             f"| run | steps | IoU >= {IOU_EARLY} at step | IoU >= {IOU_GOAL} at step | final (best) IoU | {heads} | "
             "MPJPE 100% | P-MPJPE 100% | mean-pose N-MPJPE | minutes |",
             "|---|---:|---:|---:|---:|" + "---:|" * len(args.fractions) + "---:|---:|---:|---:|"]
    for name, row in rows.items():
        for seed, rec in row["seeds"].items():
            lines.append(table_line(seed_label(name, row, seed), rec, args.fractions))
    means = {name: row["mean"] for name, row in rows.items() if any(m["seeds"] > 1 for m in row["mean"].values())}
    if means:
        lines += ["", "Over seeds (mean, and max - min in brackets):", "",
                  f"| run | seeds | {heads} | MPJPE 100% | P-MPJPE 100% |",
                  "|---|---:|" + "---:|" * len(args.fractions) + "---:|---:|"]
        for name, mean in means.items():
            n = " | ".join(f"{mean[f]['n_mpjpe']:.1f} ({mean[f]['n_mpjpe_spread']:.1f})" if f in mean else "-"
                           for f in (f"{f:g}" for f in args.fractions))
            full = mean.get("1", {})
            lines.append(f"| {name} | {max(m['seeds'] for m in mean.values())} | {n} | "
                         f"{full.get('mpjpe', float('nan')):.1f} | {full.get('p_mpjpe', float('nan')):.1f} |")
    missing = [r.name for r in RUNS if r.name not in rows]
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)}."]
    lines += ["", "Runs:", *[f"- **{r.name}**: {r.about}" + (f" (`--set {' '.join(r.overrides)}`)" if r.overrides
                                                              else "") for r in RUNS]]
    if plot_curves(rows, out.with_suffix(".png")):
        lines += ["", f"![box IoU against training step]({out.with_suffix('.png').name})"]
    lines += hand_notes(out)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def seed_label(name: str, row: dict, seed: str) -> str:
    return name if list(row["seeds"]) == ["0"] else f"{name} [seed {seed}]"


def table_line(name: str, rec: dict, fractions: tuple[float, ...]) -> str:
    cells = rec["cells"]
    cell = lambda f, m: f"{cells[f][m]:.1f}" if f in cells else "-"  # noqa: E731
    n = " | ".join(cell(f"{f:g}", "n_mpjpe") for f in fractions)
    last = f"not by {rec['curve'][-1]['step']}" if rec["curve"] else "-"
    first = [f"{step}" if step is not None else last for step in rec["first_step_iou"].values()]
    final = f"{rec['final_iou']:.3f} ({rec['best_iou']:.3f})" if rec["final_iou"] is not None else "-"
    return (f"| {name} | {rec['steps']} | {' | '.join(first)} | {final} | {n} | {cell('1', 'mpjpe')} | "
            f"{cell('1', 'p_mpjpe')} | {cell('1', 'mean_pose_n_mpjpe')} | {rec['minutes'] or '-'} |")


def plot_curves(rows: dict, path: Path) -> bool:
    from benchmarks.plotting import line_plot

    series = {seed_label(name, row, seed):
              ([c["step"] for c in rec["curve"]], [c["box_iou"] for c in rec["curve"]], {})
              for name, row in rows.items() for seed, rec in row["seeds"].items() if rec["curve"]}
    return line_plot(path, series, hline=IOU_GOAL, xlabel="training step", ylabel="box IoU, held-out athletes",
                     title="Does the detector find the athlete?")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="SSL steps of every run (the same budget)")
    ap.add_argument("--seeds", type=lambda s: tuple(int(x) for x in s.split(",")), default=(0,),
                    help="SSL seeds of every run (default: 0)")
    ap.add_argument("--only", default="", help="comma-separated run names or scenarios (default: all)")
    ap.add_argument("--fractions", type=lambda s: tuple(float(f) for f in s.split(",")), default=FRACTIONS)
    ap.add_argument("--pose-steps", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--config", default="small", help="model size of every run (tiny: CPU tables, smoke tests)")
    ap.add_argument("--out", type=Path, default=RESULTS / "scenarios")
    ap.add_argument("--machine", default="", help=MACHINE_HELP)
    ap.add_argument("--report-only", action="store_true", help="rewrite the results from the runs there are")
    args = ap.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    for run in RUNS if not args.report_only else ():
        if wanted and run.name not in wanted and run.scenario not in wanted:
            continue
        for seed in args.seeds:
            trained = train_run(run, make_data(run.scenario, args.work), args.work, args.steps, args.workers, seed,
                                args.config)
            for fraction in args.fractions:
                read_out(trained, fraction, args.pose_steps)
            write_results(collect(args.work, args.fractions), args, args.out)
    write_results(collect(args.work, args.fractions), args, args.out)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
