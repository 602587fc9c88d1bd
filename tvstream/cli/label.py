"""``tvstream label``: 2D labels for clips from a pre-trained teacher, one hand-label JSON per clip."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.cli.context import AppContext, pass_app
from tvstream.errors import TeacherError, TvstreamError
from tvstream.teacher.specs import DEFAULT_TEACHER, TEACHERS


@click.command()
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--teacher", "name", type=click.Choice(sorted(TEACHERS)), default=DEFAULT_TEACHER, show_default=True,
              help="MediaPipe Pose landmark model (install it first: tvstream teacher install).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the label files (default: clip.json beside each clip).")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, metavar="N",
              help="Label every N-th frame (stream indices divisible by N).")
@click.option("--max-frames", type=click.IntRange(1), default=None, metavar="N",
              help="Stop after N labeled frames per clip (a quick look).")
@click.option("--venv", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The teacher's venv (default: $TVSTREAM_TEACHER_HOME or ~/.cache/tvstream/teacher).")
@click.option("--worker", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, hidden=True,
              help="Run this script instead of the shipped worker (tests: a fake teacher).")
@pass_app
def label(app: AppContext, clips: tuple[Path, ...], name: str, out_dir: Path | None, every: int,
          max_frames: int | None, venv: Path | None, worker: Path | None) -> None:
    """Label CLIPS with a pre-trained 2D teacher: 17 joints, confidence and its 3D guess per frame.

    Writes one tvstream.handlabels/1 JSON per clip. A clip already labeled by the same teacher version is
    skipped; an interrupted one resumes from its .partial.jsonl.

    \b
    Example:
      tvstream label footage/*.mp4 --teacher mediapipe-heavy --out labels/
    """
    from tvstream.teacher.labeling import LabelConfig, label_clip, output_path
    from tvstream.teacher.runner import open_teacher

    teacher = open_teacher(name, venv, worker)
    cfg = LabelConfig(every=every, max_frames=max_frames)
    failed = 0
    with Progress(TextColumn("[bold]label[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("frames"), TimeRemainingColumn(), console=app.console, disable=app.quiet) as bar:
        for clip in clips:
            task = bar.add_task(escape(clip.name), total=None)
            try:
                result = label_clip(clip, teacher, output_path(clip, out_dir), cfg,
                                    progress=lambda _c, done, total: bar.update(task, completed=done, total=total))
            except (TvstreamError, OSError) as exc:  # an unreadable clip or a crashed teacher: go on
                failed += 1
                bar.console.print(f"[bold red]failed:[/] {escape(str(exc))}", soft_wrap=True)  # one line each
                continue
            bar.update(task, completed=result.frames, total=result.frames)
            how = "cached" if result.cached else (f"resumed after {result.resumed_from}"
                                                  if result.resumed_from else "labeled")
            if not app.quiet:
                bar.console.print(f"{escape(str(clip))}: {how}, {result.found}/{result.frames} frames with a person "
                                  f"-> {escape(str(result.out))}", soft_wrap=True)
    if failed:
        raise TeacherError(f"{failed} of {len(clips)} clips failed (named above); rerun to resume them")
