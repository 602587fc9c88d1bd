"""Writing H.264 MP4 files with PyAV, atomically: frames go to a temp file renamed on a clean close."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tvstream.errors import SourceError


class VideoWriter:
    """A context manager: ``write(rgb)`` per frame; the file appears at ``path`` only when closed cleanly.

    Args:
        path: output ``.mp4``; its folder must exist.
        width, height: frame size (even numbers, as yuv420p needs).
        fps: frame rate.
        crf: x264 quality (lower = better; 18 is visually lossless, 23 the default).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, crf: int = 20) -> None:
        if width % 2 or height % 2 or width <= 0 or height <= 0:
            raise ValueError(f"H.264 needs an even, positive frame size, got {width}x{height}")
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        try:
            self._container = av.open(str(self.tmp), mode="w", format="mp4")
        except (OSError, av.error.FFmpegError) as exc:
            raise SourceError(f"{self.path}: cannot write video ({exc})") from None
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        self._container.mux(self._stream.encode())
        self._container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self._container.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
