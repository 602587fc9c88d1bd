"""``tvstream run``: video in, one JSON line of 3D pose per frame out."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.cli.context import AppContext, pass_app
from tvstream.errors import CheckpointError


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An exported model (.onnx; see `tvstream export`).")
@click.option("--out", "out", default="-", show_default=True,
              help="Where the JSON lines go: a file, - for stdout, or tcp://HOST:PORT.")
@click.option("--backend", type=click.Choice(("auto", "tensorrt", "onnxruntime", "torch")), default="auto",
              show_default=True, help="auto: TensorRT with a GPU, else ONNX Runtime.")
@click.option("--batch", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Frames per inference call (files: more throughput; live: more latency).")
@click.option("--threads", type=click.IntRange(0, 256), default=0, help="ONNX Runtime threads (0: all cores).")
@click.option("--no-smooth", is_flag=True, help="Write raw per-frame poses (no One-Euro filter).")
@click.option("--scenario", type=click.Choice(("studio", "dive", "ski")), default="studio", show_default=True,
              help="dive: gravity-aware box tracking.")
@click.option("--render", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an overlay video with the box and skeleton drawn.")
@pass_app
def run(app: AppContext, source: str, model: Path | None, out: str, backend: str, batch: int, threads: int,
        no_smooth: bool, scenario: str, render: Path | None) -> None:
    """Estimate 3D poses in INPUT (a video file, - for stdin, or an rtsp/rtmp/srt/http/tcp/udp URL).

    \b
    Example:
      tvstream run camera.mp4 --model model.onnx --out poses.jsonl
      ffmpeg -i feed.ts -f mpegts - | tvstream run - --model model.onnx --out tcp://graphics:9000
    """
    from engines.backends import load_backend
    from tvstream.pipeline import RunOptions, run_stream
    from tvstream.sinks import JsonlSink
    from tvstream.sources import VideoSource

    if model is None:
        raise CheckpointError("no model given: export one with `tvstream export RUN/last.pt --out model.onnx` "
                              "and pass --model model.onnx")
    options = {"threads": threads} if backend in ("auto", "onnxruntime") else {}
    engine = load_backend(model, backend, **options)
    meta = engine.metadata
    info = {"name": meta.name, "hash": meta.model_hash, "backend": engine.name, "trained": meta.trained}
    opts = RunOptions(batch=batch, smooth=not no_smooth, render=str(render) if render else None, scenario=scenario)
    with VideoSource(source, meta.input_size, display=render is not None) as src, JsonlSink(out) as sink:
        quiet = app.quiet or out == "-"
        with Progress(TextColumn("[bold]run[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                      TimeRemainingColumn(), console=app.console, disable=quiet, transient=True) as bar:
            task = bar.add_task("run", total=src.num_frames)
            stats = run_stream(src, engine, sink, opts, info, lambda n: bar.update(task, completed=n))
        sink.end(frames=stats.frames, dropped=stats.dropped + src.dropped, errors=stats.errors)
    app.say(f"{stats.frames} frames -> {out}" + (f", overlay {render}" if render else ""))
    engine.close()
