"""Which training signal teaches the detector where the athlete is? Held-out box IoU of several runs vs steps.

The runs are ``tvstream train ssl`` runs of ``Ours`` small on one synthetic studio set that differ in one
setting each, for example (the H200 sweep of 2026-11-26, three to six runs in parallel on one GPU)::

    tvstream train ssl --data DATA --out sw/base --steps 3000 --set weights.foreground=0
    tvstream train ssl --data DATA --out sw/fg   --steps 3000   # the studio preset: foreground term on
    tvstream train ssl --data DATA --out sw/lr10 --steps 3000 --set weights.foreground=0 --set detector_lr_scale=10

Run: ``python -m benchmarks.detector_sweep sw/base sw/fg ... [--title T] [--stem detector_sweep]``; reads each
run's ``metrics.jsonl`` and ``config.json`` and writes ``benchmarks/results/<stem>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.plotting import pyplot

RESULTS = Path(__file__).parent / "results"


def summarise(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    restarts = [i for i in range(1, len(rows)) if rows[i]["step"] < rows[i - 1]["step"]]
    rows = rows[restarts[-1]:] if restarts else rows  # a folder trained twice from scratch: the last run only
    config = json.loads((run / "config.json").read_text())
    evals = [r for r in rows if r["stage"] == "eval"]
    train = [r for r in rows if r["stage"] != "eval"]
    first_06 = next((e["step"] for e in evals if e["box_iou"] >= 0.6), None)
    return {"run": run.name, "variant": config["variant"], "model": config["model"],
            "foreground": config["weights"].get("foreground", 0.0),
            "detector_lr_scale": config.get("detector_lr_scale", 1.0),
            "centre_prior": config["weights"]["centre_prior"], "box_scale": config["weights"]["box_scale"],
            "steps": train[-1]["step"] if train else 0, "s_per_step": train[-1]["s_per_step"] if train else None,
            "curve": [(e["step"], e["box_iou"], e["box_iou_frac_0.5"]) for e in evals],
            "final_iou": evals[-1]["box_iou"] if evals else None, "best_iou": max((e["box_iou"] for e in evals),
                                                                                  default=None),
            "first_step_iou_0.6": first_06}


def plot(runs: list[dict], png: Path, title: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for r in runs:
        steps, ious = [c[0] for c in r["curve"]], [c[1] for c in r["curve"]]
        ax.plot(steps, ious, marker="o", ms=3, label=r["run"])
    ax.axhline(0.6, color="grey", ls="--", lw=1)
    ax.set(xlabel="training step", ylabel="held-out mean box IoU", title=title, ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--title", default="Ours small, synthetic studio, held-out subjects")
    ap.add_argument("--machine", default="", help="where the runs ran (GPU runs are not on this machine)")
    ap.add_argument("--stem", default="detector_sweep")
    ap.add_argument("--notes", type=Path, help="a Markdown file appended to the report (conditions, findings)")
    args = ap.parse_args(argv)
    runs = [summarise(r) for r in args.runs]
    result = {"date": time.strftime("%Y-%m-%d"), "machine": args.machine, "title": args.title, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(runs, RESULTS / f"{args.stem}.png", args.title)
    lines = [f"# {args.title}", "", f"Machine: {args.machine or 'not given'}; {result['date']}. Held-out box IoU "
             "every 200 steps (test subjects, every 10th frame).", "",
             "| run | foreground term | detector LR x | centre prior | steps | IoU (final) | IoU (best) | "
             "first step with IoU >= 0.6 |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['run']} | {r['foreground']} | {r['detector_lr_scale']} | {r['centre_prior']} | "
                     f"{r['steps']} | {r['final_iou']:.3f} | {r['best_iou']:.3f} | {r['first_step_iou_0.6'] or '-'} |")
    lines += ["", f"Curves: `{args.stem}.png`."]
    if args.notes:
        lines += ["", args.notes.read_text().rstrip()]
    (RESULTS / f"{args.stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
