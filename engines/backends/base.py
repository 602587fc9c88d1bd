"""The Backend protocol and the explicit registry that picks one (TensorRT, ONNX Runtime, torch)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from collections.abc import Callable
from typing import Protocol

import numpy as np

from engines.metadata import TRACK_COLUMNS, TRACK_INPUT, ModelMetadata
from tvstream.errors import BackendError


class Backend(Protocol):
    """A loaded model: ``infer`` maps uint8 frames ``(N, H, W, 3)`` (and a track box per frame) to named outputs."""

    name: str
    metadata: ModelMetadata

    def infer(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``frames (N, H, W, 3)`` uint8 at ``metadata.input_size`` -> ``{"box": (N, 4), "pose3d": ..., ...}``.

        ``track (N, 5)`` float32 ``[use, cx, cy, hx, hy]`` only for models whose ``metadata.inputs`` has
        ``"track"`` (None: zeros, the detector places every crop; a row with use 0 may name the square a person
        detector looks at, ``FrameFit.view_row``); a model whose crop turns with the body
        (``metadata.track_columns`` 6) also takes a 6th number, the crop's angle, and reads a 5-number row as
        upright; a model without a track input refuses one.
        """
        ...

    def close(self) -> None:
        """Release sessions, engines and device memory."""
        ...


def _load_onnxruntime(path: str | os.PathLike, **options) -> Backend:
    from engines.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, **options)


def _load_torch(path: str | os.PathLike, **options) -> Backend:
    from engines.backends.torch_backend import TorchBackend

    return TorchBackend(path, **options)


def _load_tensorrt(path: str | os.PathLike, **options) -> Backend:
    from engines.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(path, **options)


# an explicit registry (no getattr/__dict__ lookups): name -> loader
BACKENDS: dict[str, Callable[..., Backend]] = {
    "tensorrt": _load_tensorrt,
    "onnxruntime": _load_onnxruntime,
    "torch": _load_torch,
}


def _gpu_present() -> bool:
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


def pick_backend(name: str = "auto") -> str:
    """Resolve ``auto``: TensorRT when the package and a GPU are present, else ONNX Runtime."""
    if name != "auto":
        if name not in BACKENDS:
            raise BackendError(f"unknown backend {name!r}; choose auto, {', '.join(BACKENDS)}")
        return name
    has_trt = importlib.util.find_spec("tensorrt") is not None and importlib.util.find_spec("pycuda") is not None
    return "tensorrt" if has_trt and _gpu_present() else "onnxruntime"


def load_backend(path: str | os.PathLike, name: str = "auto", **options) -> Backend:
    """Load the model at ``path`` (``.onnx``; the torch backend reads the ``.pt`` written beside it)."""
    return BACKENDS[pick_backend(name)](path, **options)


def check_frames(frames: np.ndarray, meta: ModelMetadata) -> None:
    """Refuse frames the model was not exported for, with the sizes in the message."""
    h, w = meta.input_size
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (h, w, 3):
        raise BackendError(f"frames must be uint8 (N, {h}, {w}, 3), got {frames.dtype} {frames.shape}")


def check_track(track: np.ndarray | None, n: int, meta: ModelMetadata) -> np.ndarray | None:
    """The ``track`` input to feed for ``n`` frames: zeros when None for a tracking model, None for a model without.

    Raises BackendError for a track of the wrong shape or type, or a track given to a model that takes none.
    """
    if TRACK_INPUT not in meta.inputs:
        if track is not None:
            raise BackendError(f"model {meta.name!r} has no {TRACK_INPUT!r} input (inputs {list(meta.inputs)}); "
                               "pass track=None")
        return None
    columns = meta.track_columns
    if track is None:
        return np.zeros((n, columns), np.float32)  # use = 0 everywhere: the detector's boxes
    if (not isinstance(track, np.ndarray) or track.dtype != np.float32 or track.ndim != 2 or len(track) != n
            or track.shape[1] not in (TRACK_COLUMNS, columns)):
        got = f"{track.dtype} {track.shape}" if isinstance(track, np.ndarray) else type(track).__name__
        raise BackendError(f"track must be float32 ({n}, 5) [use, cx, cy, hx, hy]"
                           f"{' (+ angle)' if columns > TRACK_COLUMNS else ''} for {n} frames, got {got}")
    if track.shape[1] < columns:  # a row without an angle: the crop stands upright
        track = np.concatenate([track, np.zeros((n, columns - track.shape[1]), np.float32)], 1)
    return np.ascontiguousarray(track)
