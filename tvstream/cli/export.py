"""``tvstream export`` (checkpoint -> ONNX [+ Triton repository]) and ``tvstream build`` (ONNX -> TensorRT)."""

from __future__ import annotations

from pathlib import Path

import click

from tvstream.cli.context import AppContext, pass_app


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .onnx file to write (a .pt twin for the torch backend is written beside it).")
@click.option("--regressor", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A trained pose regressor (from `train pose`); without one the pose head is random.")
@click.option("--mask", is_flag=True, help="Also output the decoder's silhouette mask.")
@click.option("--triton", "triton", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write a Triton model repository here (config.pbtxt + model.onnx).")
@pass_app
def export(app: AppContext, checkpoint: Path, out: Path, regressor: Path | None, mask: bool,
           triton: Path | None) -> None:
    """Export a trained CHECKPOINT to one ONNX graph: uint8 frames -> box, pose3d (mm), pose2d (px)."""
    from engines.export import export_onnx, write_triton_repository  # lazy: torch and onnx

    meta = export_onnx(checkpoint, out, regressor=regressor, with_mask=mask)
    app.say(f"wrote {out} (input {meta.input_size[1]}x{meta.input_size[0]}, hash {meta.model_hash}"
            + ("" if meta.trained else ", untrained pose head") + ")")
    if triton is not None:
        app.say(f"wrote Triton model {write_triton_repository(out, triton, meta)}")


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--precision", type=click.Choice(("fp32", "fp16")), default="fp16", show_default=True)
@click.option("--max-batch", type=click.IntRange(1, 256), default=8, show_default=True)
@pass_app
def build(app: AppContext, model: Path, precision: str, max_batch: int) -> None:
    """Compile MODEL (.onnx) to a cached TensorRT engine ahead of time (needs an NVIDIA GPU and TensorRT)."""
    from engines.backends import load_backend

    backend = load_backend(model, "tensorrt", precision=precision, max_batch=max_batch)
    report = getattr(backend, "parity", None)
    app.say(f"engine ready ({precision}, batch 1..{max_batch})" + (f"; parity: {report}" if report else ""))
    backend.close()
