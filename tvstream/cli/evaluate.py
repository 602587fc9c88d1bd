"""``tvstream evaluate``: the few-label pose model's errors on held-out labeled video."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from tvstream.cli.context import AppContext, pass_app


@click.command()
@click.argument("pose_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(("test", "val", "labeled", "train")), default="test", show_default=True,
              help="Which labeled videos to score (test: held-out subjects).")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset to score (default: the one the regressor was trained from).")
@click.option("--stride", type=click.IntRange(1), default=1, show_default=True, help="Score every N-th frame.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@pass_app
def evaluate(app: AppContext, pose_dir: Path, split: str, data: Path | None, stride: int, as_json: bool) -> None:
    """Score POSE_DIR (from `train pose`): MPJPE, N-MPJPE, P-MPJPE (mm), per action, box IoU.

    Also writes POSE_DIR/eval_<split>.json.
    """
    from train.pose.evaluate import evaluate_pose  # lazy: torch

    result = evaluate_pose(pose_dir, split, str(data) if data else None, stride)
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
