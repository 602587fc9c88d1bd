"""``tvstream train``: learn from unlabeled venue video (``ssl``); later, the few-label pose regressor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.cli.context import AppContext, pass_app

VARIANT_NAMES = ("DSL", "DSL-STN", "DSL-STN-Dec", "AE-STN-Dec", "CSS", "CSS-STN-Dec-Split", "MV-CSS", "Ours",
                 "Ours+gravity", "Ours+2D")


@click.group()
def train() -> None:
    """Train models (needs the `train` extra: torch, torchvision)."""


@train.command()
@click.option("--data", "data", type=click.Path(exists=True, path_type=Path), required=True,
              help="Folder of videos or a manifest.json (unlabeled footage is enough).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: last.pt, metrics.jsonl, config.json, caches.")
@click.option("--variant", type=click.Choice(VARIANT_NAMES), default=None,
              help="Method (default: the scenario's, Ours or Ours+gravity).")
@click.option("--config", "size", type=click.Choice(("tiny", "small", "paper")), default="small", show_default=True,
              help="Model size: tiny (tests), small (CPU), paper (GPU).")
@click.option("--scenario", type=click.Choice(("studio", "dive", "ski")), default="studio", show_default=True,
              help="Sampling distances, background kind and loss weights of the venue.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Total training steps.")
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Data loader processes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@pass_app
def ssl(app: AppContext, data: Path, out_dir: Path, variant: str | None, size: str, scenario: str,
        steps: int | None, batch_size: int | None, workers: int, seed: int, resume: bool) -> None:
    """Self-supervised training of the detector and the pose features on unlabeled video.

    \b
    Example:
      tvstream train ssl --data data/studio --out runs/ours --config small --steps 3000
    """
    from train.ssl.config import config_for  # lazy: torch
    from train.ssl.fit import fit

    overrides = {k: v for k, v in {"variant": variant, "steps": steps, "batch_size": batch_size}.items()
                 if v is not None}
    cfg = replace(config_for(scenario), model=size, data=str(data), workers=workers, seed=seed, **overrides)
    with Progress(TextColumn("[bold]train ssl[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=app.console,
                  disable=app.quiet) as bar:
        task = bar.add_task(cfg.variant, total=cfg.steps, stats="")

        def on_step(step: int, stats: dict) -> None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float))
            bar.update(task, completed=step, stats=shown)

        ckpt = fit(cfg, out_dir, resume=resume, on_step=on_step)
    app.say(f"checkpoint: {ckpt}")
