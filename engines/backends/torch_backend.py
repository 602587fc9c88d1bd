"""The torch backend: the same graph in eager PyTorch, for debugging and parity checks (needs torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engines.backends.base import check_frames
from engines.metadata import ModelMetadata
from tvstream.errors import BackendError, CheckpointError


class TorchBackend:
    """Runs the export's ``.pt`` twin of a ``.onnx`` file (written by ``engines.export.export_onnx``).

    Args:
        device: "cpu", "cuda" or "auto" (CUDA when available).
        half: run in float16 (CUDA only).
    """

    name = "torch"

    def __init__(self, path: str | os.PathLike, device: str = "auto", half: bool = False) -> None:
        try:
            import torch
        except ImportError:
            raise BackendError("the torch backend needs torch (pip install 'tvstream[train]')") from None
        from engines.export import build_inference_graph

        pt = Path(path).with_suffix(".pt")
        if not pt.is_file():
            raise CheckpointError(f"{pt}: no torch twin of {path} (export writes it next to the .onnx)")
        try:
            state = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{pt}: not a readable export ({type(exc).__name__}: {exc})") from None
        graph, meta = build_inference_graph(state["ssl"], state["regressor"], state["with_mask"])
        self.metadata: ModelMetadata = meta
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        self.graph = graph.to(self.device).eval()
        if self.half:
            self.graph = self.graph.half()
        self._torch = torch

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        check_frames(frames, self.metadata)
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(frames).to(self.device)
            if self.half:
                with torch.autocast("cuda", dtype=torch.float16):
                    outputs = self.graph(x)
            else:
                outputs = self.graph(x)
        return {name: out.float().cpu().numpy() for name, out in zip(self.metadata.outputs, outputs)}

    def close(self) -> None:
        self.graph = None
