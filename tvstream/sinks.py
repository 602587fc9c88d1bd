"""JSON Lines output (``tvstream.pose/1``) to a file, stdout or a TCP socket; every line whole and flushed.

A consumer can read the file while it is written: each line is one ``write`` of a complete JSON object
followed by a flush, the header comes first, and the ``end`` line is written even when the run fails
(with the reason), so output already written is never lost or left half a line.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np

from tvstream.errors import SinkError
from tvstream.output_schema import POSE_SCHEMA_ID
from tvstream.skeleton import JOINT_NAMES


def _rounded(a: np.ndarray | None, digits: int) -> list | None:
    """A (K, D) array as nested lists rounded to ``digits``; None when absent or not finite."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        return None
    return np.round(a, digits).tolist()


class JsonlSink:
    """Writes one run's lines to ``target``: a path, ``"-"`` for stdout, or ``tcp://HOST:PORT``."""

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = str(target)
        self._socket: socket.socket | None = None
        self._file: IO[str] | None = None
        if self.target != "-" and not self.target.startswith("tcp://") and not Path(self.target).parent.is_dir():
            raise SinkError(f"{Path(self.target).parent}: no such folder for the output")
        try:
            if self.target == "-":
                self._file = sys.stdout
            elif self.target.startswith("tcp://"):
                host, _, port = self.target[len("tcp://"):].rpartition(":")
                self._socket = socket.create_connection((host or "127.0.0.1", int(port)), timeout=10)
            else:
                self._file = open(self.target, "w", encoding="utf-8")  # closed in close()
        except (OSError, ValueError) as exc:
            raise SinkError(f"{self.target}: cannot open output ({exc})") from None
        self.lines = 0
        self.ended = False

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n"
        try:
            if self._socket is not None:
                self._socket.sendall(line.encode())
            else:
                self._file.write(line)
                self._file.flush()
        except (OSError, ValueError) as exc:
            raise SinkError(f"{self.target}: cannot write output ({exc})") from None
        self.lines += 1

    def header(self, model: dict[str, Any], uri: str, width: int, height: int, fps: float | None) -> None:
        """The first line: schema, model, joints, units and the source."""
        fps = fps if fps and math.isfinite(fps) and fps > 0 else None
        self._write({"type": "header", "schema": POSE_SCHEMA_ID, "model": model, "joints": list(JOINT_NAMES),
                     "units": "mm", "source": {"uri": uri, "width": int(width), "height": int(height), "fps": fps}})

    def pose(self, frame: int, t: float, detected: bool, score: float, box: np.ndarray | None,
             pose3d: np.ndarray | None, pose2d: np.ndarray | None, latency_ms: float, tc: str | None = None,
             dropped: int = 0) -> None:
        """One frame: box / pose2d in source pixels, pose3d root-relative mm; None when nothing was detected."""
        line: dict[str, Any] = {"type": "pose", "frame": int(frame), "t": round(float(t), 6),
                                "detected": bool(detected), "score": round(float(min(max(score, 0.0), 1.0)), 4),
                                "box": _rounded(box, 1) if detected else None,
                                "pose3d": _rounded(pose3d, 1) if detected else None,
                                "pose2d": _rounded(pose2d, 2) if detected else None,
                                "latency_ms": round(max(float(latency_ms), 0.0), 2)}
        if tc is not None:
            line["tc"] = tc
        if dropped:
            line["dropped"] = int(dropped)
        self._write(line)

    def end(self, frames: int, dropped: int = 0, errors: int = 0, reason: str | None = None) -> None:
        """The last line (written once)."""
        if self.ended:
            return
        line: dict[str, Any] = {"type": "end", "frames": int(frames), "dropped": int(dropped), "errors": int(errors)}
        if reason:
            line["reason"] = reason
        self._write(line)
        self.ended = True

    def close(self) -> None:
        """Close the file or socket (stdout stays open)."""
        if self._socket is not None:
            self._socket.close()
        elif self._file is not None and self._file is not sys.stdout:
            self._file.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.ended and self.lines:
                reason = None if exc_type is None else f"{exc_type.__name__}: {exc}"
                try:
                    self.end(frames=max(self.lines - 1, 0), errors=0 if exc_type is None else 1, reason=reason)
                except SinkError:
                    pass  # the output itself is gone; the original error matters more
        finally:
            self.close()
