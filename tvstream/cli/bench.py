"""``tvstream bench``: decode-only, model-only and end-to-end speed on a file, in one table."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from tvstream.cli.context import AppContext, pass_app


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An exported model (.onnx). Default: the embedded model.")
@click.option("--backend", type=click.Choice(("auto", "tensorrt", "onnxruntime", "torch")), default="auto",
              show_default=True)
@click.option("--batch", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(0, 256), default=0,
              help="ONNX Runtime threads (0: all cores but one, which decodes).")
@click.option("--frames", "max_frames", type=click.IntRange(1), default=None, help="Use the first N frames.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (for scripts).")
@pass_app
def bench(app: AppContext, source: str, model: Path | None, backend: str, batch: int, threads: int,
          max_frames: int | None, as_json: bool) -> None:
    """Measure how fast INPUT runs: decoding alone, the model alone, and the whole pipeline.

    Latencies are per frame (model: per call / batch). Overhead is how much slower end-to-end is than
    the slower of decoding and the model (decoding and inference overlap in their own threads).
    """
    from tvstream.api import open_model
    from tvstream.bench import benchmark

    engine, _ = open_model(model, backend, threads)
    app.say(f"benchmarking {source} with {engine.name}, batch {batch} ...")
    result = benchmark(source, engine, batch, max_frames)
    engine.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    table = Table(title=f"{source} ({result.width}x{result.height} -> model {result.model_input[1]}x"
                        f"{result.model_input[0]}, {result.backend}, batch {batch})")
    for col in ("", "frames", "fps", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col else "left")
    for name, t in (("decode only", result.decode), ("model only", result.model), ("end to end", result.end_to_end)):
        table.add_row(name, str(t.frames), f"{t.fps:.0f}", f"{t.p50_ms:.2f}", f"{t.p99_ms:.2f}")
    app.console.print(table)
    app.say(f"pipeline overhead {100 * result.overhead:.0f}% over the slower stage; peak RSS {result.rss_mb:.0f} MB")
