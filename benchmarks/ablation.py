"""The synthetic benchmark table: every variant of the paper's Table 1 with one budget, read out at 1/10/100% labels.

Run: ``python -m benchmarks.ablation [--recipe world64] [--steps 2000] [--variants Ours,DSL,...]``. It renders
the studio world of the recipe once (held-out test subjects), trains each variant with one config (``small``
by default) and the same steps and data (three seeds for the rows the claims compare: Ours, its two variants, DSL and CSS), trains the same
regressor recipe on 1%, 10% and 100% of the labeled pool, scores the held-out test subjects, measures how much
``ti`` and ``tv`` name the test subjects (KMeans and a probe, ``train/analysis/disentanglement.py``), and writes
``benchmarks/results/ablation{,_RECIPE}.{json,md,png}``.

Everything is resumable and incremental: a run continues from its ``last.pt``; a finished pose
evaluation (``eval_test.json``) is not redone; the table is rewritten after every cell, so it can be filled
over several sittings (and machines: copy ``--work``). Two floors ride along: the ``random`` row (the same
encoder with random weights, frozen) and the ``mean pose`` row (the labeled frames' mean pose for every frame).
Two fine-tuned rows train detector, encoder and regressor end to end on the same labeled frames
(``--finetune-steps``): ``supervised`` from random weights (what the labels alone buy) and ``Ours fine-tuned``
from Ours' weights (the paper's initialisation experiment). ``ablation.png`` plots N-MPJPE against the label
fraction for every row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.notes import hand_notes
from benchmarks.provenance import MACHINE_HELP, machine

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / ".ablation"  # ignored by git: data, runs, caches
TABLE_VARIANTS = ("CSS", "MV-CSS", "DrNet", "NSD", "DSL", "DSL-STN", "DSL-STN-Dec", "AE-STN-Dec",
                  "CSS-STN-Dec-Split", "Ours", "Ours-noID", "Ours-farswap")
SEEDED = ("Ours", "DSL", "CSS", "Ours-noID", "Ours-farswap")  # the rows the claims compare: several seeds (--seed-count)
FRACTIONS = (0.01, 0.1, 1.0)
# how much each feature names the athlete on the test subjects (train/analysis/disentanglement.py)
IDENTITY_METRICS = ("ti_accuracy", "tv_accuracy", "ti_probe", "tv_probe")
REGRESSOR_WORDS = {"mlp": "MLP 2x2048", "mlp_small": "MLP 2x512, dropout 0.25", "mlp_resnet": "residual MLP 3x1024"}
# the studio worlds of the table: `studio8` is the first one (8 subjects, 2 of them labeled: a regressor cannot
# tell pose from person there); `world64` is sized like the paper's setting (44 unlabeled subjects, 12 labeled,
# 8 held out for the test)
DATA_RECIPES = {
    "studio8": {"scenario": "studio", "subjects": 8, "sequences": 2, "seconds": 4.0, "size": (256, 256), "seed": 11,
                "test_fraction": 0.25, "labeled_fraction": 0.25},
    "world64": {"scenario": "studio", "subjects": 64, "sequences": 2, "seconds": 4.0, "size": (128, 128),
                "seed": 12, "test_fraction": 0.125, "labeled_fraction": 0.1875},
}


def make_data(work: Path, recipe: str) -> Path:
    """The studio dataset of the table (rendered once; ``synth_config.json`` records the recipe)."""
    from train.synth.generate import SynthConfig, synthesize

    data = work / "data"
    if (data / "manifest.json").is_file():
        return data
    r = DATA_RECIPES[recipe]
    synthesize(SynthConfig(scenario=r["scenario"], subjects=r["subjects"], sequences=r["sequences"],
                           seconds=r["seconds"], width=r["size"][1], height=r["size"][0], seed=r["seed"],
                           test_fraction=r["test_fraction"], labeled_fraction=r["labeled_fraction"]), data)
    return data


def warm_cache(data: Path, work: Path, size: str, jobs: int = 1) -> None:
    """Decode every video of ``data`` into the shared frame cache at ``size``'s frame size, ``jobs`` at a time.

    Variants run as parallel processes (``--variants X`` each) read one cache; building it first means no two
    of them decode the same video into the same file.
    """
    from concurrent.futures import ThreadPoolExecutor

    from train.data.frame_cache import build_cache
    from train.models.config import MODEL_PRESETS

    videos = [data / v["video"] for v in json.loads((data / "manifest.json").read_text())["videos"]]
    frame_size = MODEL_PRESETS[size].frame_size
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(lambda v: build_cache(v, frame_size, work / "cache"), videos))


def config_hash(cfg_dict: dict) -> str:
    """Short hash of what decides the result (not where the data, caches or workers are)."""
    kept = {k: v for k, v in cfg_dict.items() if k not in ("data", "cache_dir", "workers")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def train_variant(variant: str, seed: int, data: Path, work: Path, steps: int, workers: int,
                  size: str = "small") -> Path | None:
    """Train (or finish) one variant's run; None when the variant does not exist in this code yet."""
    from train.ssl.config import config_for
    from train.ssl.fit import fit
    from train.ssl.variants import VARIANTS

    if variant not in VARIANTS:
        return None
    run = work / "runs" / f"{variant}-s{seed}"
    cfg = replace(config_for("studio"), variant=variant, model=size, data=str(data), steps=steps, seed=seed,
                  workers=workers, image_every=0, cache_dir=str(work / "cache"))
    done = run / "done.json"
    if not done.is_file():
        tic = time.perf_counter()
        fit(cfg, run, resume=(run / "last.pt").is_file())
        # atomic: parallel variant processes read each other's done.json when they write the table
        tmp = done.with_name(done.name + ".tmp")
        tmp.write_text(json.dumps({"minutes": round((time.perf_counter() - tic) / 60, 1),
                                   "config_hash": config_hash(cfg.to_dict())}) + "\n")
        os.replace(tmp, done)
    return run


# rows read out of Ours-s0's architecture with another recipe: (init, fine-tuned end to end)
DERIVED_ROWS = {"random": ("random", False), "supervised": ("random", True), "Ours fine-tuned": ("ssl", True)}


def pose_dir_name(init: str, fraction: float, finetune: bool = False) -> str:
    return f"pose-{init}{'-ft' if finetune else ''}-{fraction:g}"


def pose_cell(run: Path, fraction: float, init: str = "ssl", steps: int = 2000, finetune_steps: int = 0,
              device: str | None = None, regressor: str = "mlp") -> dict:
    """Regressor on ``run``'s frozen features (or fine-tuned with them) at ``fraction`` of the labels, scored on
    the test subjects."""
    from train.pose.evaluate import evaluate_pose
    from train.pose.fit import PoseConfig, fit_pose
    from train.checkpoint import load_checkpoint

    pose_dir = run / pose_dir_name(init, fraction, finetune_steps > 0)
    scored = pose_dir / "eval_test.json"
    if not scored.is_file():
        ckpt = run / "last.pt"
        cfg = PoseConfig(features=str(ckpt), data=load_checkpoint(ckpt)["config"]["data"], fraction=fraction,
                         init=init, regressor=regressor, steps=steps, finetune_steps=finetune_steps)
        fit_pose(cfg, pose_dir, cache_dir=run.parent.parent / "cache", device=device)
        evaluate_pose(pose_dir, "test", cache_dir=run.parent.parent / "cache", device=device)
    return json.loads(scored.read_text())


def _mean_spread(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "spread": float(np.ptp(values)) if len(values) > 1 else 0.0,
            "n": len(values)}


def collect(work: Path, variants: list[str], fractions: tuple[float, ...]) -> dict:
    """The table from whatever cells exist under ``work`` (missing cells stay missing)."""
    rows = {}
    for variant in [*variants, *DERIVED_ROWS]:
        # derived rows: Ours-s0's architecture and labeled frames, another recipe (the SSL seed does not enter
        # the random ones; the fine-tuned one starts from Ours-s0)
        init, finetune = DERIVED_ROWS.get(variant, ("ssl", False))
        runs = sorted((work / "runs").glob("Ours-s0" if variant in DERIVED_ROWS else f"{variant}-s*"))
        cells = {}
        for fraction in fractions:
            evals = [json.loads(p.read_text()) for r in runs
                     if (p := r / pose_dir_name(init, fraction, finetune) / "eval_test.json").is_file()]
            if evals:
                cells[f"{fraction:g}"] = {m: _mean_spread([e[m] for e in evals])
                                          for m in ("n_mpjpe", "mpjpe", "p_mpjpe")}
        done = [json.loads((r / "done.json").read_text()) for r in runs if (r / "done.json").is_file()]
        analyses = [json.loads(p.read_text()) for r in runs if (p := r / "analysis_test.json").is_file()]
        identity = {m: _mean_spread([a[m] for a in analyses]) for m in IDENTITY_METRICS
                    if analyses and variant not in DERIVED_ROWS and all(a.get(m) is not None for a in analyses)}
        rows[variant] = {"cells": cells, "seeds": len(runs), "minutes": [d["minutes"] for d in done],
                         "config_hash": done[0]["config_hash"] if done else None, "identity": identity}
    floor = {}
    for fraction in fractions:
        pattern = f"Ours-s*/pose-ssl-{fraction:g}/eval_test.json"
        evals = [json.loads(p.read_text()) for p in (work / "runs").glob(pattern)]
        if evals:
            floor[f"{fraction:g}"] = {"n_mpjpe": _mean_spread([e["mean_pose_n_mpjpe"] for e in evals])}
    rows["mean pose"] = {"cells": floor, "seeds": 0, "minutes": [], "config_hash": None, "identity": {}}
    return rows


def _cell(cells: dict, fraction: str, metric: str) -> str:
    return _value(cells.get(fraction, {}), metric)


def _value(values: dict, metric: str, percent: bool = False) -> str:
    if metric not in values:
        return "-"
    v, k = values[metric], 100 if percent else 1
    return f"{v['mean'] * k:.1f}" + (f" ({v['spread'] * k:.1f})" if v["n"] > 1 else "")


def analyse(run: Path) -> dict:
    """Subject clustering and probe of ``run``'s ``ti`` / ``tv`` on the test subjects (and the swap grid)."""
    from train.analysis.disentanglement import analyse_run

    done = run / "analysis_test.json"
    return json.loads(done.read_text()) if done.is_file() else analyse_run(run, "test")


def write_table(rows: dict, args: argparse.Namespace, out: Path) -> None:
    record, where = machine(args.machine)
    recipe = DATA_RECIPES[args.recipe]
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "recipe": args.recipe,
              "data": recipe, "steps": args.steps, "config": args.config, "fractions": list(args.fractions),
              "pose_steps": args.pose_steps, "regressor": args.regressor, "finetune_steps": args.finetune_steps,
              "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    head = " | ".join(f"N-MPJPE {f:g}" for f in args.fractions)
    lines = ["# Synthetic benchmark: features read out with few labels (held-out subjects, mm)", "",
             f"Machine: {where}; {result['date']}. "
             f"Studio data `{args.recipe}` {recipe}; every variant `{args.config}`, {args.steps} steps; regressor "
             f"`{args.regressor}` ({REGRESSOR_WORDS[args.regressor]}) on frozen features, {args.pose_steps} steps. "
             "Cells: mean (spread = max - min over seeds). "
             "`random`: Ours' encoder with random weights; `mean pose`: the labeled mean pose for every frame (the "
             f"floors); `supervised` / `Ours fine-tuned`: detector, encoder and regressor trained together on the "
             f"same labeled frames for {args.finetune_steps} more steps, from random / Ours' weights. Identity "
             "columns (test subjects, %): KMeans subject clustering of `ti` / `tv` and a nearest-class-mean subject "
             "probe (means from half of each subject's videos, scored on the other half).", "",
             f"| variant | seeds | {head} | MPJPE 1 | P-MPJPE 1 | ti KMeans | tv KMeans | ti probe | tv probe "
             "| minutes | config |",
             "|---|---:|" + "---:|" * len(args.fractions) + "---:|" * 6 + "---|"]
    for name, row in rows.items():
        fmt = lambda f, m="n_mpjpe", c=row["cells"]: _cell(c, f, m)  # noqa: E731
        cells = " | ".join(fmt(f"{f:g}") for f in args.fractions)
        identity = " | ".join(_value(row.get("identity", {}), m, percent=True) for m in IDENTITY_METRICS)
        minutes = ", ".join(f"{m:g}" for m in row["minutes"]) or "-"
        lines.append(f"| {name} | {row['seeds']} | {cells} | {fmt('1', 'mpjpe')} | {fmt('1', 'p_mpjpe')} | "
                     f"{identity} | {minutes} | {row['config_hash'] or '-'} |")
    chance = next(_analyses(args.work), None)  # the test split is the same for every run
    if chance is not None:
        lines += ["", f"Identity chance level: {100 * chance['chance']:.1f}% ({chance['subjects']} test subjects, "
                      f"{chance['frames']} frames)."]
    missing = [n for n, r in rows.items() if not r["cells"]]
    if missing:
        lines += ["", f"Not run yet (or not implemented): {', '.join(missing)}."]
    if plot_fractions(rows, out.with_suffix(".png")):
        lines += ["", f"![N-MPJPE against the label fraction]({out.with_suffix('.png').name})"]
    out.with_suffix(".md").write_text("\n".join(lines + hand_notes(out)) + "\n")


def _analyses(work: Path):
    for path in sorted((work / "runs").glob("*/analysis_test.json")):
        yield json.loads(path.read_text())


def plot_fractions(rows: dict, path: Path) -> bool:
    """N-MPJPE against the label fraction, one line per row with cells (log x); False when nothing to plot."""
    from benchmarks.plotting import line_plot

    styles = {"mean pose": {"linestyle": ":", "color": "black"}, "random": {"linestyle": "--", "color": "grey"},
              "Ours": {"marker": "o", "linewidth": 3, "color": "crimson"}}
    series = {}
    for name, row in rows.items():
        xs = sorted(row["cells"], key=float)
        if xs:
            series[name] = ([float(x) * 100 for x in xs], [row["cells"][x]["n_mpjpe"]["mean"] for x in xs],
                            styles.get(name, {"marker": "o"}))
    return line_plot(path, series, legend_columns=2, xscale="log", title="Features read out with few labels",
                     xlabel="labeled frames used (% of the labeled pool)", ylabel="N-MPJPE on test subjects (mm)")


def seeds_of(variant: str, args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds:
        return args.seeds
    return tuple(range(args.seed_count)) if variant in SEEDED else (0,)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", choices=sorted(DATA_RECIPES), default="studio8",
                    help="the studio world: studio8 (8 subjects, the first table) or world64 (44 unlabeled, 12 "
                         "labeled and 8 test subjects)")
    ap.add_argument("--steps", type=int, default=2000, help="SSL steps of every variant (the same budget)")
    ap.add_argument("--variants", default=",".join(TABLE_VARIANTS))
    ap.add_argument("--fractions", type=lambda s: tuple(float(f) for f in s.split(",")), default=FRACTIONS)
    ap.add_argument("--work", type=Path, default=None, help="data, runs and caches (default: benchmarks/.ablation/"
                                                            "RECIPE, ignored by git)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--config", default="small", help="model size of every variant (tiny: smoke tests, CPU tables)")
    ap.add_argument("--pose-steps", type=int, default=2000, help="regressor steps of every cell")
    ap.add_argument("--regressor", choices=sorted(REGRESSOR_WORDS), default="mlp",
                    help="regressor of every cell (mlp_small: CPU tables, 16x cheaper)")
    ap.add_argument("--finetune-steps", type=int, default=1000,
                    help="end-to-end steps of the supervised and Ours fine-tuned rows (0: leave them out)")
    ap.add_argument("--seeds", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                    help="SSL seeds of every variant given (default: --seed-count for the SEEDED rows; "
                         "0 for the rest)")
    ap.add_argument("--seed-count", type=int, default=3, help="seeds of the compared rows (" + ", ".join(SEEDED) + ")")
    ap.add_argument("--warm-cache", type=int, default=0, metavar="JOBS",
                    help="only render the data and build the frame cache, JOBS videos at a time, then stop "
                         "(before starting variants as parallel processes on one --work)")
    ap.add_argument("--pose-device", default=None, help="where the regressors train (default: GPU if any)")
    ap.add_argument("--machine", default="", help=MACHINE_HELP)
    ap.add_argument("--report-only", action="store_true", help="rewrite the table from the cells there are")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file stem (default: benchmarks/results/ablation for studio8, ablation_RECIPE else)")
    args = ap.parse_args(argv)
    args.work = args.work or WORK / args.recipe
    args.out = args.out or RESULTS / ("ablation" if args.recipe == "studio8" else f"ablation_{args.recipe}")
    variants = args.variants.split(",")
    shown = list(dict.fromkeys([*TABLE_VARIANTS, *variants]))  # a run of some variants keeps the others' rows
    if args.report_only:
        write_table(collect(args.work, shown, args.fractions), args, args.out)
        print(args.out.with_suffix(".md").read_text())
        return
    data = make_data(args.work, args.recipe)
    if args.warm_cache:
        warm_cache(data, args.work, args.config, args.warm_cache)
        return
    for variant in variants:
        for seed in seeds_of(variant, args):
            run = train_variant(variant, seed, data, args.work, args.steps, args.workers, args.config)
            if run is None:
                print(f"{variant}: not implemented in this code yet; its row stays empty")
                continue
            analyse(run)
            for fraction in args.fractions:
                pose_cell(run, fraction, steps=args.pose_steps, device=args.pose_device, regressor=args.regressor)
                if variant == "Ours" and seed == 0:
                    for init, finetune in DERIVED_ROWS.values():
                        if finetune and not args.finetune_steps:
                            continue
                        pose_cell(run, fraction, init=init, steps=args.pose_steps,
                                  finetune_steps=args.finetune_steps if finetune else 0, device=args.pose_device,
                                  regressor=args.regressor)
                write_table(collect(args.work, shown, args.fractions), args, args.out)
    write_table(collect(args.work, shown, args.fractions), args, args.out)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
