"""``tvstream data``: check a dataset folder or manifest, and build its training frame caches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tvstream.cli.context import AppContext, pass_app
from tvstream.errors import SourceError
from tvstream.labels import load_any_labels
from tvstream.manifest import discover


class SizeParam(click.ParamType):
    """``WxH`` (as video tools write it, e.g. ``128x96``) or one number for a square; converts to ``(H, W)``."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(value))
        if not m or int(m.group(1)) == 0 or (m.group(2) and int(m.group(2)) == 0):
            self.fail(f"{value!r} is not a size like 128 or 128x96 (width x height)", param, ctx)
        w = int(m.group(1))
        return (int(m.group(2)) if m.group(2) else w, w)


@click.group()
def data() -> None:
    """Check datasets (videos + labels) and prepare them for training."""


@data.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also decode every video into memory-mapped frame caches in this folder.")
@click.option("--size", type=SizeParam(), default="128", show_default=True,
              help="Training resolution of the caches, WxH.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per video instead of a table.")
@pass_app
def check(app: AppContext, source: Path, cache_dir: Path | None, size: tuple[int, int], as_json: bool) -> None:
    """Validate SOURCE (a folder of videos, or a manifest.json): readable videos, well-formed labels.

    Unreadable videos are reported and skipped (exit code 2 if none is readable); a label file with a
    missing field or a wrong shape stops with a message naming it.
    """
    from train.data.frame_cache import build_cache  # lazy: training code stays out of `import tvstream`
    from train.data.video_reader import probe_video

    rows, bad = [], []
    entries = discover(source)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=app.console, disable=app.quiet or cache_dir is None, transient=True) as bar:
        for entry in entries:
            try:
                info = probe_video(entry.video)
            except SourceError as exc:
                bad.append({"video": str(entry.video), "error": str(exc)})
                continue
            labels = load_any_labels(entry.labels) if entry.labels else None
            row = {"video": str(entry.video), "frames": info.num_frames, "width": info.width,
                   "height": info.height, "fps": info.fps, "split": entry.split, "subject": entry.subject,
                   "sequence": entry.sequence, "camera": entry.camera,
                   "labeled_frames": len(labels) if labels else 0,
                   "labeled_3d": int(labels.has_3d.sum()) if labels else 0}
            if cache_dir is not None:
                task = bar.add_task(f"caching {entry.video.name}", total=info.num_frames)
                build_cache(entry.video, size, cache_dir, info.num_frames,
                            lambda done, total, task=task: bar.update(task, completed=done, total=total))
                bar.remove_task(task)
            rows.append(row)
    if as_json:
        for row in rows + bad:
            click.echo(json.dumps(row))
    else:
        _print_table(rows, bad)
    if not rows:
        raise SourceError(f"{source}: none of {len(entries)} video(s) is readable")


def _print_table(rows: list[dict], bad: list[dict]) -> None:
    table = Table(title=f"{len(rows)} readable video(s), {len(bad)} skipped")
    for col in ("video", "frames", "size", "fps", "split", "sequence", "camera", "labels (3D)"):
        table.add_column(col, justify="right" if col in ("frames", "fps") else "left")
    for r in rows:
        table.add_row(Path(r["video"]).name, str(r["frames"]), f"{r['width']}x{r['height']}",
                      f"{r['fps']:.2f}" if r["fps"] else "?", r["split"], r["sequence"], r["camera"],
                      f"{r['labeled_frames']} ({r['labeled_3d']})")
    for b in bad:
        table.add_row(Path(b["video"]).name, "-", "-", "-", "-", "-", "-", f"[red]{b['error']}[/]")
    Console().print(table)
