"""``tvstream evaluate``: the few-label pose model's errors on held-out video, or (``--analysis``) what an
SSL run's features hold."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from tvstream.cli.context import AppContext, pass_app


@click.command()
@click.argument("pose_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--analysis", is_flag=True, help="DIR is a `train ssl` run: KMeans of ti vs tv by subject and a "
                                               "pose/appearance swap grid.")
@click.option("--split", type=click.Choice(("test", "val", "labeled", "train")), default="test", show_default=True,
              help="Which labeled videos to score (test: held-out subjects).")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset to score (default: the one the regressor was trained from).")
@click.option("--stride", type=click.IntRange(1), default=None,
              help="Use every N-th frame (default 1; 5 with --analysis).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@pass_app
def evaluate(app: AppContext, pose_dir: Path, analysis: bool, split: str, data: Path | None, stride: int | None,
             as_json: bool) -> None:
    """Score DIR (from `train pose`): MPJPE, N-MPJPE, P-MPJPE (mm), per action, box IoU.

    Also writes DIR/eval_<split>.json (or, with --analysis, DIR/analysis_<split>.json and swap_grid_<split>.png).
    """
    if analysis:
        _analysis(app, pose_dir, split, data, stride or 5, as_json)
        return
    from train.pose.evaluate import evaluate_pose  # lazy: torch

    result = evaluate_pose(pose_dir, split, str(data) if data else None, stride or 1)
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    table = Table(title=f"{pose_dir} on {split} ({result['frames']} frames, subjects {', '.join(result['subjects'])})")
    for col in ("", "MPJPE", "N-MPJPE", "P-MPJPE"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("all", *(f"{result[k]:.1f}" for k in ("mpjpe", "n_mpjpe", "p_mpjpe")), style="bold")
    for action, err in result["per_action_n_mpjpe"].items():
        table.add_row(action, "", f"{err:.1f}", "")
    app.console.print(table)
    if result["box_iou"] is not None:
        app.say(f"detector box IoU with the labeled box: {result['box_iou']:.3f}")


def _analysis(app: AppContext, run_dir: Path, split: str, data: Path | None, stride: int, as_json: bool) -> None:
    from train.analysis.disentanglement import analyse_run  # lazy: torch

    result = analyse_run(run_dir, split, str(data) if data else None, stride)
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    table = Table(title=f"{run_dir} ({result['variant']}, step {result['step']}): KMeans by subject on {split} "
                        f"({result['frames']} frames, {result['subjects']} subjects, chance {pct(result['chance'])})")
    table.add_column("feature")
    table.add_column("subject clustering accuracy", justify="right")
    table.add_row("ti (appearance)", pct(result["ti_accuracy"]))
    table.add_row("tv (pose)", pct(result["tv_accuracy"]))
    app.console.print(table)
    if "swap_grid" in result:
        app.say(f"swap grid (pose from the row, appearance from the column): {result['swap_grid']}")
