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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--no-torch", is_flag=True, help="Do not import torch (faster; skips the CUDA check).")
@pass_app
def info(app: AppContext, as_json: bool, no_torch: bool) -> None:
    """Show versions of Python, PyAV/FFmpeg, ONNX Runtime, TensorRT, torch, and the GPUs found."""
    data = system_info(probe_torch=not no_torch)
    if as_json:
        click.echo(json.dumps(data))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _rows(data):
        table.add_row(key, value)
    Console().print(table)
