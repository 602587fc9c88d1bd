"""ONNX Runtime backend: CPU everywhere (thread count settable), the CUDA provider where it is installed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engines.backends.base import check_frames, check_track
from engines.metadata import INPUT_NAME, TRACK_INPUT, ModelMetadata
from tvstream.errors import BackendError, CheckpointError


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` over an exported model.

    Args:
        threads: intra-op threads (0: ONNX Runtime's default, all cores).
        providers: execution providers to try in order (default: CUDA when available, then CPU).
    """

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int = 0, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: the runtime's stderr is for the user
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
        except Exception as exc:  # ORT raises its own types for truncated or foreign files
            raise CheckpointError(f"{path}: cannot load the model ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}); re-export it") from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata = ModelMetadata.from_props(props, str(path))
        self._outputs = [o.name for o in self.session.get_outputs()]
        missing = [o for o in self.metadata.outputs if o not in self._outputs]
        if missing:
            raise CheckpointError(f"{path}: the graph lacks outputs {missing} its metadata promises")
        inputs = sorted(i.name for i in self.session.get_inputs())
        if inputs != sorted(self.metadata.inputs):
            raise CheckpointError(f"{path}: the graph takes inputs {inputs}, its metadata promises "
                                  f"{list(self.metadata.inputs)}")

    def infer(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        check_frames(frames, self.metadata)
        feed = {INPUT_NAME: frames}
        track = check_track(track, len(frames), self.metadata)
        if track is not None:
            feed[TRACK_INPUT] = track
        try:
            values = self.session.run(self._outputs, feed)
        except Exception as exc:
            raise BackendError(f"onnxruntime failed: {exc}") from None
        return dict(zip(self._outputs, values))

    def close(self) -> None:
        self.session = None
