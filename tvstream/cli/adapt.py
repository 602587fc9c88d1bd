"""``tvstream adapt``: a folder of a venue's unlabeled footage -> a pose model fitted to that venue."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tvstream.cli.context import AppContext, pass_app
from tvstream.teacher.specs import DEFAULT_TEACHER, TEACHERS


@click.command()
@click.argument("venue", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The adapted model (.onnx), for `tvstream run --model`.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the stages keep their results (default: OUT without .onnx + '.adapt/'); "
                   "run the same command again to go on after a stop.")
@click.option("--teacher", "teacher_name", type=click.Choice([*sorted(TEACHERS), "labels"]), default=DEFAULT_TEACHER,
              show_default=True, help="The 2D teacher (tvstream teacher install); 'labels': the clips' own label "
                                      "files (to measure what a perfect teacher would give, on a synthetic venue).")
@click.option("--every", type=click.IntRange(1), default=None, metavar="N",
              help="The teacher labels every N-th frame (default: 1 for the whole network, 5 for the detector; on "
                   "every frame MediaPipe tracks the person from frame to frame, about 28 frames/s on 2 cores).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Fine-tuning steps (default: 800 for the whole network, 400 for the detector).")
@click.option("--camera", type=click.Choice(["auto", "fixed", "moving"]), default="auto", show_default=True,
              help="How the venue's plates are made: median (fixed) or registered panorama (moving).")
@click.option("--synth-subjects", type=click.IntRange(1), default=12, show_default=True,
              help="Synthetic athletes rendered over the venue's plates (3D labels for this venue).")
@click.option("--synth-seconds", type=click.FloatRange(0.2, 60), default=3.0, show_default=True, hidden=True)
@click.option("--synth-size", default="auto", show_default=True, hidden=True, metavar="WxH",
              help="Size of the rendered athletes' clips; auto: 640x360, or 360x640 for portrait footage.")
@click.option("--holdout", type=click.FloatRange(0.05, 0.5), default=0.2, show_default=True,
              help="The last share of every clip, kept out of training to score agreement with the teacher.")
@click.option("--size", default=None, metavar="SIZE",
              help="Pose network size (train/posenet/config.py: lite, full, heavy, real-lite, ...). Default: the "
                   "size of the model it starts from; a size other than the shipped model's, with --init default, "
                   "starts from scratch.")
@click.option("--init", default="default", show_default=True,
              help="Start from: 'default' (the shipped model), a model .onnx, a posenet .pt, or 'none'.")
@click.option("--part", type=click.Choice(["all", "detector"]), default="all", show_default=True,
              help="What learns the venue: the whole network (the pose head learns the teacher's 2D beside the "
                   "replay world), or the box detector alone (its background, cameras and people's size).")
@click.option("--replay", default="auto", show_default=True, metavar="auto|render|none|CACHE",
              help="Other people's rows mixed into the training, so the head keeps their 3D: 'render' (a world of "
                   "40 athletes rendered here, about 2 minutes), a pose-network training cache (tvstream train "
                   "posenet's), or 'none'. auto: render for --part all, none for --part detector.")
@click.option("--replay-subjects", type=click.IntRange(3), default=40, show_default=True, hidden=True)
@click.option("--replay-seconds", type=click.FloatRange(0.2, 60), default=2.5, show_default=True, hidden=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="Learning rate (default: 1e-4 for the whole network, 5e-5 for the detector; a start model that "
                   "reads MediaPipe's landmarks is tuned by train.landmark_tune's recipe at 5e-5).")
@click.option("--hold-3d", "hold3d", type=click.FloatRange(0), default=None, metavar="WEIGHT",
              help="Keep the 3D of the model adapt starts from on the venue's frames, with this weight: the "
                   "teacher gives 2D alone. Default: 0.5 for the whole network from a start model, else 0 (a "
                   "landmark start model holds its own reading by distillation instead: refused there). On "
                   "four rendered venues 0.5 kept nearly all of the gain in agreement with the teacher and 3-16 mm "
                   "MPJPE of the 3D that 0 lost; 2 kept more of the 3D but gave up the agreement gain.")
@click.option("--device", default="cpu", show_default=True, help="cpu, or cuda on a GPU machine.")
@click.option("--venv", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The teacher's venv (default: $TVSTREAM_TEACHER_HOME or ~/.cache/tvstream/teacher).")
@click.option("--worker", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, hidden=True,
              help="Run this script instead of the shipped teacher worker (tests: a fake teacher).")
@pass_app
def adapt(app: AppContext, venue: Path, out: Path, work: Path | None, teacher_name: str, every: int | None,
          steps: int | None, camera: str, synth_subjects: int, synth_seconds: float, synth_size: str, holdout: float,
          size: str | None, init: str, part: str, replay: str, replay_subjects: int, replay_seconds: float,
          lr: float | None, hold3d: float | None, device: str, venv: Path | None, worker: Path | None) -> None:
    """Fit a fast pose model to a venue from its unlabeled footage, taught by a pre-trained 2D model.

    VENUE is a folder of clips of the venue (any length; last season's runs, warm-ups). The stages: background
    plates of the venue; the teacher's 2D labels on every N-th frame; synthetic athletes rendered over the
    plates, and a world of other athletes (--replay); the default model fine-tuned on them;
    export; and a report (WORK/report.md) of agreement with the teacher on every clip's held-out last 20%,
    before and after, and the speed of both; also the adapted model's agreement and speed with run's faster
    options (--fast, --no-second-look), to choose from. Every stage is kept in WORK: run the same command again
    after a stop and it goes on.

    \b
    Example:
      tvstream teacher install --teacher mediapipe-heavy
      tvstream adapt footage/ --out venue.onnx
      tvstream run camera.mp4 --model venue.onnx --out poses.jsonl
    """
    from train.adapt.config import AdaptConfig  # lazy: torch
    from train.adapt.pipeline import adapt as run_adapt

    try:
        render_size = None if synth_size == "auto" else tuple(int(v) for v in synth_size.lower().split("x"))
        if render_size is not None and len(render_size) != 2:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{synth_size!r}: expected WxH or auto", param_hint="--synth-size") from None
    if out.suffix.lower() != ".onnx":
        raise click.BadParameter(f"{out}: the model file must end in .onnx", param_hint="--out")
    start = None if init == "none" else init
    if start not in (None, "default") and not Path(start).is_file():
        raise click.BadParameter(f"{start}: no such model file", param_hint="--init")
    if replay not in ("auto", "render", "none") and not Path(replay).is_dir():
        raise click.BadParameter(f"{replay}: not a folder (give auto, render, none, or a pose cache)",
                                 param_hint="--replay")
    named = {"auto": "render" if part == "all" else None, "render": "render", "none": None}
    replay = named[replay] if replay in named else str(Path(replay).resolve())
    if size is not None:
        from train.posenet.config import SIZES

        if size not in SIZES:
            raise click.BadParameter(f"{size!r}: one of {', '.join(SIZES)}", param_hint="--size")
    try:
        cfg = AdaptConfig(teacher=teacher_name, every=every, holdout=holdout, camera=camera,
                          synth_subjects=synth_subjects, synth_seconds=synth_seconds, synth_size=render_size, size=size,
                          init=start, part=part, replay=replay, replay_subjects=replay_subjects,
                          replay_seconds=replay_seconds, steps=steps, lr=lr, hold3d=hold3d, device=device)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    teacher = None
    if teacher_name != "labels":
        from tvstream.teacher.runner import open_teacher

        teacher = open_teacher(teacher_name, venv, worker)
    work = work or out.with_suffix("").with_name(out.stem + ".adapt")
    with Progress(TextColumn("[bold]adapt[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=app.console, disable=app.quiet) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(escape(stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = run_adapt(venue, out, cfg, work, teacher, lambda msg: bar.console.print(escape(msg)), progress)
    for path, why in report["skipped"].items():
        app.say(f"skipped {path}: {why}")
    before, after = report["before"]["pck"], report["after"]["pck"]
    app.say(f"agreement with the teacher on held-out footage (PCK@0.2): before {before:.3f}, after {after:.3f}; "
            f"report: {work / 'report.md'}")
    truth = (report["before"]["truth"]["pck"], report["after"]["truth"]["pck"]) if "truth" in report["after"] else None
    if truth is not None:
        app.say(f"against the clips' own labels (PCK@0.2): before {truth[0]:.3f}, after {truth[1]:.3f}")
    if report.get("modes"):
        faster = "; ".join(f"with {name} {row['fps']:.0f} (agreement {row['pck']:.3f})"
                           for name, row in report["modes"].items())
        app.say(f"frames/s end to end: {report['after']['fps']:.0f}; {faster}")
    app.say(f"model: {out}")
    if after < before:
        app.say(f"[bold yellow]warning:[/] the adapted model agrees less with the teacher on the held-out "
                f"footage than the model it started from ({after:.3f} < {before:.3f}): keep using that one")
    elif truth is not None and truth[1] < truth[0]:
        app.say(f"[bold yellow]warning:[/] the adapted model agrees more with the teacher but is less accurate "
                f"against the clips' own labels than the model it started from ({truth[1]:.3f} < {truth[0]:.3f}): "
                "keep using that one")
    mm = [report[key]["truth"].get("mpjpe") for key in ("before", "after")] if truth is not None else [None]
    holds = report.get("recipe", "train.posenet.fit") == "train.posenet.fit"  # a landmark start has no --hold-3d
    if None not in mm and mm[1] > mm[0] and start is not None and holds and report.get("hold3d", 0.0) < 2:
        app.say(f"its 3D against the clips' own labels: MPJPE {mm[0]:.0f} -> {mm[1]:.0f} mm; --hold-3d 2 keeps more "
                "of the 3D of the model it starts from, and less of the agreement gain "
                "(benchmarks/results/s44_rule.md)")
