"""JSON Lines output (``tvstream.pose/4``): to a file, stdout, a TCP peer or any number of TCP or WebSocket clients.

Targets (:data:`OUTPUT_HELP`): a path, ``-`` for stdout, ``tcp://HOST:PORT`` (connect to one peer),
``tcp-listen://[HOST]:PORT`` (serve clients) or ``ws://[HOST]:PORT`` (serve WebSocket clients, one text
frame per line, any path; :mod:`tvstream.ws_outputs`). Listeners' host defaults to 0.0.0.0 and port 0 picks
a free one (``sink.port``); ``sink.wait_for_client()`` holds a run until the first client is there.

A consumer can read a file while it is written: each line is one ``write`` of a complete JSON object
followed by a flush, the header comes first, and the ``end`` line is written even when the run fails
(with the reason), so output already written is never lost or left half a line.

Sockets never stall the pipeline: they are non-blocking, and each connection keeps a bounded backlog of
the bytes the kernel has not taken yet. Every (re)connection and every new client starts with the header
line. A peer that goes away is re-connected with exponential back-off (a step is tried only when a line
is written, and never waits); lines it misses are counted in ``sink.lost_lines``. A client that goes away
or falls more than :data:`tvstream.tcp_outputs.BACKLOG_BYTES` behind is dropped (it may see a cut last line before EOF).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np

from tvstream.errors import SinkError
from tvstream.output_schema import POSE_SCHEMA_ID
from tvstream.root_position import RootEstimate
from tvstream.skeleton import JOINT_NAMES
from tvstream.tcp_outputs import TcpPeer, TcpServer, host_port
from tvstream.ws_outputs import WsServer

log = logging.getLogger(__name__)

SCHEMES = ("tcp", "tcp-listen", "ws")
LISTEN_SCHEMES = ("tcp-listen", "ws")  # outputs that serve clients (and can wait for the first one)
OUTPUT_HELP = ("a file, - for stdout, tcp://HOST:PORT (a peer, re-connected), tcp-listen://[HOST]:PORT "
               "or ws://[HOST]:PORT (serve TCP or WebSocket clients)")


def is_listener(target: str) -> bool:
    """Does ``target`` serve clients (``tcp-listen://``, ``ws://``), so a run can wait for the first one?"""
    scheme, sep, _ = str(target).partition("://")
    return bool(sep) and scheme in LISTEN_SCHEMES


def _rounded(a: np.ndarray | None, digits: int) -> list | None:
    """A (K, D) array as nested lists rounded to ``digits``; None when absent or not finite."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        return None
    return np.round(a, digits).tolist()


def pose_line(frame: int, t: float, detected: bool, score: float, box: np.ndarray | None,
              pose3d: np.ndarray | None, pose2d: np.ndarray | None, latency_ms: float, tc: str | None = None,
              dropped: int = 0, conf: np.ndarray | None = None, track: int | None = None,
              root: RootEstimate | None = None, shot: int = 0) -> dict[str, Any]:
    """The ``pose`` line of one frame as a JSON-ready dict (DESIGN §5); pose fields None when not detected.

    ``conf (K,)``: per-joint confidence of models that have one (written with 3 digits); None leaves it out.
    ``root``: the root's position (mm, 1 digit), speed (mm/s) and, with a known floor, height (mm)
    (:mod:`tvstream.root_position`); None leaves them out.
    ``track``: the athlete's track id (:mod:`tvstream.athlete`), null while no athlete is held.
    ``shot``: the shot the frame is in, 0 at the start and one more at each cut the run found
    (:mod:`tvstream.scene_cut`).
    """
    line: dict[str, Any] = {"type": "pose", "frame": int(frame), "t": round(float(t), 6),
                            "detected": bool(detected), "score": round(float(min(max(score, 0.0), 1.0)), 4),
                            "box": _rounded(box, 1) if detected else None,
                            "pose3d": _rounded(pose3d, 1) if detected else None,
                            "pose2d": _rounded(pose2d, 2) if detected else None}
    if conf is not None:
        line["conf"] = _rounded(np.clip(conf, 0.0, 1.0), 3) if detected else None
    line["track"] = None if track is None else int(track)
    line["shot"] = int(shot)
    if root is not None:
        line["root"] = _rounded(root.position, 1) if detected else None
        line["speed"] = _rounded(root.speed, 1) if detected else None
        if root.ground:
            line["height"] = _rounded(root.height, 1) if detected else None
    line["latency_ms"] = round(max(float(latency_ms), 0.0), 2)
    if tc is not None:
        line["tc"] = tc
    if dropped:
        line["dropped"] = int(dropped)
    return line


class JsonlSink:
    """Writes one run's lines to ``target``: a path, ``"-"`` for stdout, ``tcp://``, ``tcp-listen://`` or ``ws://``."""

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = str(target)
        self._net: TcpPeer | TcpServer | None = None
        self._file: IO[str] | None = None
        scheme, sep, address = self.target.partition("://")
        if sep and scheme == "wss":
            raise SinkError(f"{self.target}: TLS (wss://) is not supported; serve ws:// behind a TLS proxy")
        if sep and scheme not in SCHEMES:
            raise SinkError(f"{self.target}: unknown output scheme {scheme}:// (use {OUTPUT_HELP})")
        if not sep and self.target != "-" and not Path(self.target).parent.is_dir():
            raise SinkError(f"{Path(self.target).parent}: no such folder for the output")
        try:
            if self.target == "-":
                self._file = sys.stdout
            elif scheme == "tcp":
                self._net = TcpPeer(*host_port(address, "127.0.0.1"))
            elif scheme in LISTEN_SCHEMES:
                server, address = (WsServer, address.partition("/")[0]) if scheme == "ws" else (TcpServer, address)
                self._net = server(*host_port(address, "0.0.0.0"))  # a ws:// path is any path: ignored
            else:
                self._file = open(self.target, "w", encoding="utf-8")  # closed in close()
        except (OSError, ValueError) as exc:
            raise SinkError(f"{self.target}: cannot open output ({exc})") from None
        self.lines = 0
        self.ended = False
        self._closed = False

    @property
    def port(self) -> int | None:
        """The bound port of a listening sink (useful with port 0); None otherwise."""
        return self._net.port if isinstance(self._net, TcpServer) else None

    @property
    def address(self) -> str | None:
        """Where a listening sink serves, as a URL with the bound port (``ws://0.0.0.0:41234``); None otherwise."""
        if not isinstance(self._net, TcpServer):
            return None
        host = f"[{self._net.host}]" if ":" in self._net.host else self._net.host
        return f"{self.target.partition('://')[0]}://{host}:{self._net.port}"

    @property
    def clients(self) -> int:
        """Clients connected to a listening sink now (WebSocket ones once their handshake is done); 0 otherwise."""
        return self._net.clients if isinstance(self._net, TcpServer) else 0

    @property
    def dropped_clients(self) -> int:
        """Clients of a listening sink dropped so far because they went away or fell behind."""
        return self._net.dropped_clients if isinstance(self._net, TcpServer) else 0

    def wait_for_client(self, timeout: float | None = None) -> bool:
        """Block until a listening sink's first client has joined (True at once if one did); False when
        ``timeout`` seconds passed first. Other outputs have no clients to wait for: SinkError."""
        if not isinstance(self._net, TcpServer):
            raise SinkError(f"{self.target}: not a listening output (tcp-listen:// or ws://): no client to wait for")
        return self._net.wait_for_client(timeout)

    @property
    def lost_lines(self) -> int:
        """Lines a ``tcp://`` peer never got (it was away or too slow); 0 otherwise."""
        return self._net.lost_lines if isinstance(self._net, TcpPeer) else 0

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n"
        if self._net is not None:
            self._net.send(line.encode(), obj["type"])  # never raises: lost peers and clients are its business
        else:
            try:
                self._file.write(line)
                self._file.flush()
            except (OSError, ValueError) as exc:
                raise SinkError(f"{self.target}: cannot write output ({exc})") from None
        self.lines += 1

    def header(self, model: dict[str, Any], uri: str, width: int, height: int, fps: float | None,
               foreground: dict[str, Any] | None = None,
               camera: dict[str, Any] | None = None, athlete: dict[str, Any] | None = None) -> None:
        """The first line: schema, model, joints, units and the source (``foreground``: how frames were scored,
        when not against a rolling background; ``camera``: the
        intrinsics and floor the root positions use, :meth:`tvstream.camera.SceneCamera.to_dict`; ``athlete``: what
        the user said of the athlete, e.g. ``{"height_m": 1.8}`` from ``--height``)."""
        fps = fps if fps and math.isfinite(fps) and fps > 0 else None
        line = {"type": "header", "schema": POSE_SCHEMA_ID, "model": model, "joints": list(JOINT_NAMES),
                "units": "mm", "source": {"uri": uri, "width": int(width), "height": int(height), "fps": fps}}
        if foreground is not None:
            line["foreground"] = foreground
        if camera is not None:
            line["camera"] = camera
        if athlete is not None:
            line["athlete"] = athlete
        self._write(line)

    def pose(self, frame: int, t: float, detected: bool, score: float, box: np.ndarray | None,
             pose3d: np.ndarray | None, pose2d: np.ndarray | None, latency_ms: float, tc: str | None = None,
             dropped: int = 0, conf: np.ndarray | None = None, track: int | None = None,
             root: RootEstimate | None = None, shot: int = 0) -> None:
        """One frame: box / pose2d in source pixels, pose3d root-relative mm, per-joint conf (models with one),
        the athlete's track id, the shot; None when nothing was detected."""
        self._write(pose_line(frame, t, detected, score, box, pose3d, pose2d, latency_ms, tc, dropped, conf, track,
                              root=root, shot=shot))

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
        """Close the file or sockets (stdout stays open); a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._net is not None:
            self._net.close()
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
