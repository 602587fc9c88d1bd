"""``tvstream`` entry point: the command group and the single place errors become exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from rich.console import Console
from rich.markup import escape

import tvstream
from tvstream.cli.adapt import adapt
from tvstream.cli.context import AppContext
from tvstream.cli.bench import bench
from tvstream.cli.data import data
from tvstream.cli.evaluate import evaluate
from tvstream.cli.export import build, export
from tvstream.cli.info import info
from tvstream.cli.label import label
from tvstream.cli.run import run
from tvstream.cli.synth import synth
from tvstream.cli.teacher import teacher
from tvstream.cli.train import train
from tvstream.errors import ExitStatus, TvstreamError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(tvstream.__version__, prog_name="tvstream")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (for pipes and scripts).")
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("--traceback", is_flag=True, help="Show the full Python traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int, traceback: bool) -> None:
    """tvstream: 3D human pose from live or recorded video, one JSON line per frame.

    Its models learn from unlabeled video of the venue itself (self-supervised detection and
    disentangled pose features) and need only a few labeled frames for the 3D regressor.

    \b
    Examples:
      tvstream run camera.mp4 --out poses.jsonl      the product, on the embedded default model
      tvstream adapt footage/ --out venue.onnx       fit a model to a venue's unlabeled footage (a teacher's 2D)
      tvstream run camera.mp4 --model venue.onnx --out poses.jsonl   then run that model
      tvstream info                      versions, backends and GPUs (for bug reports)
      tvstream data check ./footage      validate a dataset folder or manifest
      tvstream synth --scenario dive --out data/dive   render a labeled synthetic dataset
      tvstream train ssl --data data/dive --scenario dive --out runs/dive   learn without labels
      tvstream export runs/dive/last.pt --out dive.onnx                     one ONNX graph per frame
      tvstream label footage/*.mp4 --teacher mediapipe-heavy   2D labels from a pre-trained teacher
    """
    app = ctx.ensure_object(AppContext)
    app.quiet, app.verbose = quiet, verbose
    app.configure_logging()


cli.add_command(run)
cli.add_command(info)
cli.add_command(data)
cli.add_command(synth)
cli.add_command(train)
cli.add_command(export)
cli.add_command(build)
cli.add_command(evaluate)
cli.add_command(bench)
cli.add_command(teacher)
cli.add_command(label)
cli.add_command(adapt)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and exit: one red line on stderr and a named exit code for every failure."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args
    err = Console(stderr=True, soft_wrap=True)  # one error = one line, however long
    try:
        cli.main(args=args, prog_name="tvstream", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help / --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: click's own format
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        err.print("[bold red]interrupted[/]")
        sys.exit(ExitStatus.INTERRUPTED)
    except TvstreamError as exc:
        if show_traceback:
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not a user mistake: say so, keep it to one line
        if show_traceback:
            raise
        err.print(f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} "
                  "(rerun with --traceback and report it)")
        sys.exit(ExitStatus.ERROR)
    sys.exit(ExitStatus.OK)
