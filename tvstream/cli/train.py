"""``tvstream train``: learn from unlabeled venue video (``ssl``), then 3D pose from a few labels (``pose``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.cli.context import AppContext, pass_app

VARIANT_NAMES = ("DSL", "DSL-STN", "DSL-STN-Dec", "AE-STN-Dec", "CSS", "CSS-STN-Dec-Split", "MV-CSS", "DrNet", "NSD",
                 "Ours", "Ours+gravity", "Ours+2D", "Ours-noID", "Ours-farswap")  # train/ssl/variants.py (kept torch-free here)


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
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set detector_lr_scale=10 --set weights.foreground=1 "
                   "(repeatable; train/ssl/config.py lists the fields).")
@pass_app
def ssl(app: AppContext, data: Path, out_dir: Path, variant: str | None, size: str, scenario: str,
        steps: int | None, batch_size: int | None, workers: int, seed: int, resume: bool,
        sets: tuple[str, ...]) -> None:
    """Self-supervised training of the detector and the pose features on unlabeled video.

    \b
    Example:
      tvstream train ssl --data data/studio --out runs/ours --config small --steps 3000
    """
    from train.ssl.config import apply_overrides, config_for  # lazy: torch
    from train.ssl.fit import fit

    overrides = {k: v for k, v in {"variant": variant, "steps": steps, "batch_size": batch_size}.items()
                 if v is not None}
    cfg = replace(config_for(scenario), model=size, data=str(data), workers=workers, seed=seed, **overrides)
    try:
        cfg = apply_overrides(cfg, sets)
    except (ValueError, TypeError) as err:
        raise click.BadParameter(str(err), param_hint="--set") from err
    with Progress(TextColumn("[bold]train ssl[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=app.console,
                  disable=app.quiet) as bar:
        task = bar.add_task(cfg.variant, total=cfg.steps, stats="")

        def on_step(step: int, stats: dict) -> None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float))
            bar.update(task, completed=step, stats=shown)

        ckpt = fit(cfg, out_dir, resume=resume, on_step=on_step)
    app.say(f"checkpoint: {ckpt}")


def _ssl_checkpoint(features: Path) -> Path:
    return features / "last.pt" if features.is_dir() else features


@train.command()
@click.option("--features", type=click.Path(exists=True, path_type=Path), required=True,
              help="A `train ssl` run folder (its last.pt) or checkpoint: the frozen feature extractor.")
@click.option("--labels", default="1.0", show_default=True, metavar="FRACTION|DIR",
              help="A share of the labeled pool's frames (0.01 = 1%), or a folder/manifest of labeled videos.")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset with the labeled pool (default: the SSL run's data).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Pose folder: regressor.pt, pose_config.json.")
@click.option("--regressor", type=click.Choice(("mlp", "mlp_resnet", "mlp_small")), default="mlp",
              show_default=True, help="mlp: the paper's 2x2048; mlp_small: 2x512 (embedded models).")
@click.option("--init", type=click.Choice(("ssl", "random")), default="ssl", show_default=True,
              help="random: the same encoder with random weights (the floor self-supervision must beat).")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--finetune-steps", type=click.IntRange(0), default=0, show_default=True,
              help="Then train detector, encoder and regressor together on the labeled frames for this many steps "
                   "(0: frozen features, the paper's protocol). With --init random: the supervised baseline.")
@click.option("--seed", type=int, default=0, show_default=True)
@pass_app
def pose(app: AppContext, features: Path, labels: str, data: Path | None, out_dir: Path, regressor: str,
         init: str, steps: int, finetune_steps: int, seed: int) -> None:
    """Train the 3D pose regressor on frozen self-supervised features of a few labeled frames.

    \b
    Example:
      tvstream train pose --features runs/ours --labels 0.1 --out runs/ours-pose10
      tvstream evaluate runs/ours-pose10 --split test
    """
    from train.checkpoint import load_checkpoint  # lazy: torch
    from train.pose.fit import PoseConfig, fit_pose
    from tvstream.manifest import discover

    ckpt = _ssl_checkpoint(features)
    try:
        fraction = float(labels)
    except ValueError:
        if not Path(labels).exists():
            raise click.BadParameter(f"{labels!r} is neither a fraction nor an existing folder",
                                     param_hint="--labels") from None
        fraction, data = 1.0, Path(labels)
    if data is None:
        data = Path(load_checkpoint(ckpt)["config"]["data"])
    # a dataset with a labeled split keeps that pool; otherwise every labeled clip is the pool, except held-out
    # test clips (a plain folder of your labeled clips has no splits: all of it)
    splits = {e.split for e in discover(data)}
    pool = "labeled" if "labeled" in splits else tuple(sorted(splits - {"test"}))
    if not pool:
        raise click.BadParameter(f"{data}: every video is in the test split; nothing to train the regressor on",
                                 param_hint="--labels")
    cfg = PoseConfig(features=str(ckpt), data=str(data), fraction=fraction, init=init, regressor=regressor,
                     steps=steps, seed=seed, finetune_steps=finetune_steps, train_split=pool)
    with Progress(TextColumn("[bold]train pose[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=app.console, disable=app.quiet) as bar:
        task = bar.add_task("features", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        path = fit_pose(cfg, out_dir, on_progress)
    app.say(f"regressor: {path}")


@train.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Labeled clips: a dataset folder (manifest or plain folder with clip.npz/clip.json), or a folder "
                   "of such datasets (a rendered world: python -m train.synth.world train ...).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: last.pt, metrics.jsonl.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("cache/posenet"),
              show_default=True,
              help="Where the decoded training crops go: CACHE/<data folder name>/, built once and reused.")
@click.option("--size", type=click.Choice(("lite", "full", "heavy", "real-lite", "real-full", "real-lite-mpdet",
                                           "real-full-mpdet", "real-full-mpdet-lifter", "tiny")), default="full",
              show_default=True,
              help="Model size (train/posenet/config.py): lite, full, heavy; real-lite and real-full: the pose head "
                   "on MediaPipe BlazePose's landmark network (trained on real people; read from the teacher venv, "
                   "`tvstream teacher install`); -mpdet: with MediaPipe's person detector beside the box detector "
                   "(the default model is real-lite-mpdet); -lifter: the 3D read from the 2D by a lifter (train it "
                   "with --part lift); tiny for tests.")
@click.option("--steps", type=click.IntRange(1), default=6000, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=32, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, or cuda on a GPU machine.")
@click.option("--cpu-amp", is_flag=True,
              help="bfloat16 autocast on the CPU: about 2x faster where the CPU has AVX512-BF16 or AMX, about 10x "
                   "slower where it has not (emulated; a warning says so).")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this checkpoint's weights (same --size), e.g. to continue on more data; of another "
                   "size with the same box detector (full -> real-lite): its detector only.")
@click.option("--init-trunk", "init_trunk", type=click.Path(exists=True, path_type=Path), default=None,
              help="Start the pose head's trunk (resnet sizes: lite, full, heavy) from a self-supervised run's "
                   "encoder (tvstream train ssl --out RUN: RUN or RUN/last.pt): the paper's pretraining on "
                   "unlabeled video.")
@click.option("--labels", "label_fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0,
              show_default=True, help="Share of the labeled training frames to read (a few-label run: 0.01, 0.1), "
                                      "drawn at random by the seed.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--freeze-bn", is_flag=True,
              help="Keep the batch norms' statistics (a start recovered from an exported model: "
                   "python -m train.posenet.from_onnx MODEL.onnx OUT.pt, then --init OUT.pt).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a loss weight or an augmentation, e.g. --set weights.box_centre_ce=0.5 --set "
                   "augment.bars_p=0.3 --set augment.squash=0.6,1.35 (a range: its numbers comma-separated; "
                   "train/posenet/fit.py, train/posenet/augment.py).")
@click.option("--part", type=click.Choice(("all", "detector", "head", "confidence", "lift", "lift+heat")),
              default="all", show_default=True,
              help="What to train: all, the box detector alone (with --init: the pose head is kept as it is; a "
                   "step costs a fraction of a whole one), the pose head alone (the detector is kept), the "
                   "confidence alone (with --init and --empty-crops: the 2D and 3D stay exactly as they were), or "
                   "lift: a pretrained head's 3D and confidence alone (its 2D stays MediaPipe's, bit for bit); "
                   "lift+heat: and the heatmap layer on MediaPipe's features.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="CPU threads of the training step (1 each lets two runs share two cores).")
@click.option("--repeat", "repeats", multiple=True, metavar="NAME=K",
              help="Draw the training rows of the dataset NAME (a folder of --data) K times as often, e.g. "
                   "--repeat cutouts=8 (a few real people among a rendered world).")
@click.option("--empty-crops", type=click.IntRange(min=0), default=0, show_default=True,
              help="Person-free crops added to each batch, every joint's confidence taught 0 on them (so an empty "
                   "frame is not reported as a person): flat fills, and photo squares with --empty-from.")
@click.option("--empty-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of person-free photos for half of the empty crops, e.g. the real-photo plates "
                   "(data/plates/train).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@pass_app
def posenet(app: AppContext, data: Path, out_dir: Path, cache_dir: Path, size: str, steps: int, batch_size: int,
            device: str, cpu_amp: bool, init: Path | None, init_trunk: Path | None, label_fraction: float, lr: float,
            freeze_bn: bool, sets: tuple[str, ...],
            part: str, threads: int, repeats: tuple[str, ...], empty_crops: int, empty_from: Path | None,
            resume: bool) -> None:
    """Supervised training of the localising pose network (box detector + heatmap/location-map heads).

    \b
    Example:
      python -m train.synth.world train --out data/world --plates data/plates
      tvstream train posenet --data data/world --out runs/posenet --steps 6000
      tvstream export runs/posenet/last.pt --out model.onnx
    """
    from dataclasses import replace as dc_replace

    from train.checkpoint import load_checkpoint  # lazy: torch
    from train.posenet.cache import CACHE_SIDE, build_cache, find_caches
    from train.posenet.config import SIZES
    from train.posenet.fit import FitConfig, fit

    defaults = FitConfig().to_dict()
    sections = {"weights": dict(defaults["weights"]), "augment": dict(defaults["augment"])}
    for item in sets:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if section not in sections or name not in sections[section] or not value:
            raise click.BadParameter(f"{item!r}: expected weights.NAME=VALUE or augment.NAME=VALUE with a NAME of "
                                     "train/posenet/fit.py's LossWeights or augment.py's AugmentConfig",
                                     param_hint="--set")
        current = sections[section][name]
        try:
            if isinstance(current, (list, tuple)):  # a range (as many numbers) or choices (whole numbers, any count)
                choices = all(isinstance(v, int) for v in current)
                numbers = [int(v) if choices else float(v) for v in value.split(",")]
                if len(numbers) != len(current) and not choices:
                    raise click.BadParameter(f"{item!r}: {key} takes {len(current)} comma-separated numbers",
                                             param_hint="--set")
                sections[section][name] = numbers
            else:
                sections[section][name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number", param_hint="--set") from None
    repeat = {}
    for item in repeats:
        name, _, k = item.partition("=")
        if not name or not k.isdigit() or int(k) < 1:
            raise click.BadParameter(f"{item!r}: expected NAME=K, K a whole number >= 1", param_hint="--repeat")
        repeat[name] = int(k)
    datasets = [data] if (data / "manifest.json").is_file() or not any(
        (p / "manifest.json").is_file() for p in data.iterdir()) else sorted(
        p for p in data.iterdir() if (p / "manifest.json").is_file())
    with Progress(TextColumn("[bold]train posenet[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), console=app.console,
                  disable=app.quiet) as bar:
        task = bar.add_task("cache", total=len(datasets), stats="")
        root = cache_dir / data.resolve().name  # one cache per --data, so runs on other data never mix in
        for i, d in enumerate(datasets):
            build_cache(d, root / d.name if len(datasets) > 1 else root, CACHE_SIDE, SIZES[size].detector_size)
            bar.update(task, completed=i + 1)
        if not find_caches(root):
            raise click.BadParameter(f"{data}: no labeled clips to train on", param_hint="--data")
        unknown = set(repeat) - {p.name for p in find_caches(root)}
        if unknown:
            raise click.BadParameter(f"{', '.join(sorted(unknown))}: not a dataset of {data}", param_hint="--repeat")
        try:
            cfg = FitConfig.from_dict({**defaults, "model": size, "cache": str(root), "steps": steps,
                                       "batch": batch_size, "device": device, "cpu_amp": cpu_amp, "lr": lr,
                                       "init": str(init) if init else None, "freeze_bn": freeze_bn, "part": part,
                                       "init_trunk": str(init_trunk) if init_trunk else None,
                                       "label_fraction": label_fraction,
                                       "threads": threads, "repeat": repeat, "empty_crops": empty_crops,
                                       "empty_from": str(empty_from.resolve()) if empty_from else None, **sections})
        except TypeError as err:
            raise click.BadParameter(str(err), param_hint="--set") from None
        if resume and (out_dir / "last.pt").is_file():
            cfg = dc_replace(FitConfig.from_dict(load_checkpoint(out_dir / "last.pt")["config"]["fit"]), steps=steps,
                             threads=threads)
        bar.update(task, description=size, completed=0, total=steps)

        def on_step(step: int, total: int, stats: dict) -> None:
            shown = " ".join(f"{k}={stats[k]:.3g}" for k in ("loss", "pck_crop", "mpjpe_mm", "box_iou", "empty_conf")
                             if k in stats)
            bar.update(task, completed=step, stats=shown)

        fit(cfg, out_dir, resume=resume, progress=on_step)
    app.say(f"checkpoint: {out_dir / 'last.pt'}")
