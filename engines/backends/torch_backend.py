"""The torch backend: the same graph in eager PyTorch, for debugging and parity checks (needs torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engines.backends.base import check_frames, check_track
from engines.metadata import ModelMetadata
from tvstream.errors import BackendError, CheckpointError


class TorchBackend:
    """Runs the export's ``.pt`` twin of a ``.onnx`` file (written by ``engines.export.export_onnx``).

    The twin of a pose-network export (``{"posenet": ..., "card": ...}``) takes ``track`` too; the twin of an
    SSL export (``{"ssl": ..., "regressor": ..., "with_mask": ...}``) takes frames only.

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
        pt = Path(path).with_suffix(".pt")
        if not pt.is_file():
            raise CheckpointError(f"{pt}: no torch twin of {path} (export writes it next to the .onnx)")
        try:
            state = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{pt}: not a readable export ({type(exc).__name__}: {exc})") from None
        graph, meta = _build_graph(state, pt)
        self.metadata: ModelMetadata = meta
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        self.graph = graph.to(self.device).eval()
        if self.half:
            self.graph = self.graph.half()
        self._torch = torch

    def infer(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        check_frames(frames, self.metadata)
        track = check_track(track, len(frames), self.metadata)
        torch = self._torch
        with torch.inference_mode():
            inputs = [torch.from_numpy(frames).to(self.device)]
            if track is not None:
                inputs.append(torch.from_numpy(track).to(self.device))
            if self.half:
                with torch.autocast("cuda", dtype=torch.float16):
                    outputs = self.graph(*inputs)
            else:
                outputs = self.graph(*inputs)
        return {name: out.float().cpu().numpy() for name, out in zip(self.metadata.outputs, outputs)}

    def close(self) -> None:
        self.graph = None


def _build_graph(state: dict, pt: Path):
    """``(graph, metadata)`` from an export's ``.pt`` twin, pose network or SSL model + regressor."""
    if "posenet" in state:
        from engines.posenet_graph import build_posenet_graph

        return build_posenet_graph(state["posenet"], state.get("card"))
    if "ssl" in state:
        from engines.export import build_inference_graph

        return build_inference_graph(state["ssl"], state["regressor"], state["with_mask"])
    raise CheckpointError(f"{pt}: neither a pose-network nor an SSL export (keys {sorted(state)})")
