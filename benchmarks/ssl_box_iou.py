"""Does self-supervised training find the athlete? Box IoU on held-out subjects against training time.

Target (issue 5): ``Ours`` small reaches a mean IoU >= 0.6 between the learned box and the true box on
held-out subjects of the synthetic studio set within 60 minutes of CPU training.

Run (about an hour on 2 cores)::

    tvstream synth --scenario studio --subjects 8 --sequences 2 --seconds 4 --size 256x256 --seed 11 --out DATA
    timeout 3660 tvstream train ssl --data DATA --out RUN --config small --steps 3200 --workers 1
    python -m benchmarks.ssl_box_iou RUN [--notes NOTES.md]

It reads ``RUN/metrics.jsonl`` and writes ``benchmarks/results/ssl_box_iou.{json,md}``, the curves
(``ssl_box_iou_curves.png``), the loss curves and the run's last reconstruction grid (``ssl_box_iou_recon.png``).
Only evaluations within the first 60 minutes of training count for the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from tvstream.sysinfo import cpu_model
from train.ssl.reports import plot_curves

RESULTS = Path(__file__).parent / "results"
TARGET = 0.6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a `tvstream train ssl` run folder")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to the report (conditions)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["stage"] != "eval"]
    evals = [r for r in rows if r["stage"] == "eval"]
    config = json.loads((args.run / "config.json").read_text())
    seconds, elapsed = 0.0, {}
    for r in train:  # s_per_step is averaged over the last log_every steps
        seconds += r["s_per_step"] * config["log_every"]
        elapsed[r["step"]] = seconds
    curve = [{"step": e["step"], "minutes": elapsed.get(e["step"], 0.0) / 60, "box_iou": e["box_iou"],
              "box_iou_frac_0.5": e["box_iou_frac_0.5"]} for e in evals]
    in_budget = [c for c in curve if c["minutes"] <= 60]
    best = max((c["box_iou"] for c in in_budget), default=0.0)
    first = next((c for c in in_budget if c["box_iou"] >= TARGET), None)
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d"),
              "variant": config["variant"], "model": config["model"], "data": config["data"],
              "box_scale_prior": config["weights"]["box_scale"], "curve": curve, "best_iou": best,
              "foreground_weight": config["weights"].get("foreground", 0.0), "target": TARGET, "met": best >= TARGET,
              "first_at_target": first}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ssl_box_iou.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_curves(args.run / "metrics.jsonl", RESULTS / "ssl_box_iou_curves.png")
    if (args.run / "loss_curves.png").exists():
        shutil.copy(args.run / "loss_curves.png", RESULTS / "ssl_box_iou_loss_curves.png")
    grids = sorted((args.run / "images").glob("recon_*.png"))
    if grids:
        shutil.copy(grids[-1], RESULTS / "ssl_box_iou_recon.png")
    lines = [f"# Held-out box IoU of `{result['variant']}` ({result['model']}) during CPU training", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores); {result['date']}. "
             f"Box-size prior (x, y): {result['box_scale_prior']}; foreground term weight "
             f"{result['foreground_weight']}.", "",
             "| step | minutes | mean IoU | IoU >= 0.5 |", "|---:|---:|---:|---:|"]
    lines += [f"| {c['step']} | {c['minutes']:.1f} | {c['box_iou']:.3f} | {c['box_iou_frac_0.5']:.2f} |"
              for c in curve]
    reached = f"; first reached at step {first['step']}, minute {first['minutes']:.0f}" if first else ""
    lines += ["", f"Target: mean IoU >= {TARGET} within 60 min: **{'met' if result['met'] else 'MISSED'}** "
              f"(best {best:.3f} within 60 min{reached})."]
    if args.notes:
        lines += ["", args.notes.read_text().rstrip()]
    (RESULTS / "ssl_box_iou.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
