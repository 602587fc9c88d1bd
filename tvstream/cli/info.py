"""``tvstream info``: versions, backends and GPUs, so users can report their setup."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from tvstream.cli.context import AppContext, pass_app
from tvstream.sysinfo import system_info


def _rows(info: dict) -> list[tuple[str, str]]:
    av = info["av"]
    ffmpeg = ", ".join(f"{k} {v}" for k, v in av["ffmpeg"].items() if k in ("libavcodec", "libavformat"))
    ort = info["onnxruntime"]
    torch = info["torch"]
    if torch is None:
        torch_text = "not installed (only needed to train and export)"
    elif "error" in torch:
        torch_text = f"{torch.get('version')} ({torch['error']})"
    else:
        torch_text = f"{torch['version']} (CUDA build {torch['cuda_build'] or 'none'}, " \
                     f"CUDA {'available' if torch['cuda_available'] else 'not available'})"
    return [
        ("tvstream", info["tvstream"]),
        ("python", f"{info['python']} on {info['platform']}"),
        ("numpy", info["numpy"] or "missing"),
        ("PyAV / FFmpeg", f"{av['version']} ({ffmpeg})"),
        ("ONNX Runtime", "not installed" if ort is None else
         ort.get("error") or f"{ort['version']} (providers: {', '.join(ort['providers'])})"),
        ("TensorRT", info["tensorrt"] or "not installed"),
        ("pycuda", info["pycuda"] or "not installed"),
        ("torch", torch_text),
        ("torchvision", info["torchvision"] or "not installed"),
        ("GPUs", "; ".join(info["gpus"]) or "none found (nvidia-smi)"),
    ]


def model_info(model: str | None) -> dict:
    """What ``tvstream run`` would use: path, hash, input size, whether trained, and the model card's test errors."""
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from tvstream.api import resolve_model
    from tvstream.errors import TvstreamError

    try:
        path = resolve_model(model)
        meta = OnnxRuntimeBackend(path, threads=1).metadata
    except TvstreamError as exc:
        return {"error": str(exc)}
    card = meta.config.get("card", {})
    return {"path": str(path), "default": model is None, "hash": meta.model_hash, "trained": meta.trained,
            "input_size": list(meta.input_size), "outputs": list(meta.outputs), "test": card.get("test"),
            "bench": (card.get("bench") or {}).get("bench (all)"), "sample": card.get("sample_ski"),
            "trained_on": card.get("trained_on"), "run_settings": meta.run_settings}


def _model_text(m: dict) -> str:
    if "error" in m:
        return m["error"]
    text = f"{m['path']}{' (default)' if m['default'] else ''}, hash {m['hash']}, input {m['input_size'][1]}x" \
           f"{m['input_size'][0]}{'' if m['trained'] else ', untrained pose head'}"
    if m.get("test"):
        t = m["test"]
        text += f"; synthetic test N-MPJPE {t['n_mpjpe']} mm, box IoU {t['box_iou']}"
    if m.get("bench"):
        b = m["bench"]
        text += f"; bench PCK@0.2 {b['pck']}, MPJPE {b['mpjpe']} mm, box IoU {b['box_iou']}"
        if m.get("sample"):
            text += f"; sample clip PCK@0.2 {m['sample']['pck']}"
    if m.get("run_settings"):
        text += "; runs with " + ", ".join(f"{k} {v}" for k, v in sorted(m["run_settings"].items()))
    return text


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--no-torch", is_flag=True, help="Do not import torch (faster; skips the CUDA check).")
@click.option("--model", default=None, help="Describe this exported model instead of the default one.")
@pass_app
def info(app: AppContext, as_json: bool, no_torch: bool, model: str | None) -> None:
    """Show versions of Python, PyAV/FFmpeg, ONNX Runtime, TensorRT, torch, the GPUs found and the model in use."""
    data = system_info(probe_torch=not no_torch)
    data["model"] = model_info(model)
    if as_json:
        click.echo(json.dumps(data))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _rows(data) + [("model", _model_text(data["model"]))]:
        table.add_row(key, value)
    Console().print(table)
