"""Video sources: files, stdin (``-``) and network URLs, decoded by PyAV in a thread, scaled to the model.

A source is a context manager whose ``frames()`` generator yields :class:`Frame` objects at the model's
input size. Files deliver every frame (the decoder waits for the consumer); live sources (network,
stdin) keep only the newest frames and count the ones they dropped, so the lag stays bounded.
Network sources reconnect with exponential back-off.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tvstream.errors import SourceError

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp://", "rtmp://", "srt://", "http://", "https://", "tcp://", "udp://")
_END = object()


@dataclass(frozen=True)
class Frame:
    """One decoded frame: index in the stream, time in seconds, the image at the model size, timecode."""

    index: int
    t: float
    image: np.ndarray  # (H, W, 3) uint8 RGB at the model's input size
    tc: str | None = None
    dropped: int = 0  # frames skipped before this one (live sources)
    display: np.ndarray | None = None  # (H_src, W_src, 3) the frame at source size, when asked for (overlays)


@dataclass(frozen=True)
class Reconnect:
    """Back-off for network sources: waits ``first``, doubling up to ``longest``, at most ``attempts`` times."""

    attempts: int = 8
    first: float = 0.5
    longest: float = 8.0


class VideoSource:
    """Open ``uri`` (a path, ``-`` for stdin, or a network URL) and decode it at ``size = (H, W)``.

    Args:
        queue_size: decoded frames buffered ahead of the consumer.
        reconnect: back-off for network sources.
    """

    def __init__(self, uri: str, size: tuple[int, int], queue_size: int = 8,
                 reconnect: Reconnect = Reconnect(), display: bool = False) -> None:
        self.uri = str(uri)
        self.size = size
        self.live = self.uri == "-" or self.uri.startswith(NETWORK_SCHEMES)
        self.network = self.uri.startswith(NETWORK_SCHEMES)
        self.reconnect = reconnect
        self.display = display
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.dropped = 0
        if not self.live and not Path(self.uri).is_file():
            raise SourceError(f"{self.uri}: no such video file")
        container = self._open()  # fail early, in the caller's thread, with a clear message
        stream = container.streams.video[0]
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.num_frames = stream.frames or None
        self._container = container

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp", "timeout": "5000000"} if self.network else {}
        target = "pipe:0" if self.uri == "-" else self.uri
        try:
            container = av.open(target, mode="r", options=options, timeout=10 if self.network else None)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.uri}: cannot open video ({exc})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.uri}: no video stream")
        return container

    def __enter__(self) -> VideoSource:
        self._thread = threading.Thread(target=self._decode_loop, name="tvstream-decode", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding and release the container."""
        self._stop.set()
        while self._thread is not None and self._thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.1)

    # ------------------------------------------------------------------ decoding thread

    def _put(self, item: object) -> None:
        if not self.live or item is _END:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        try:  # live: the newest frame wins, the oldest waiting one is dropped
            self._queue.put_nowait(item)
        except queue.Full:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            self._queue.put_nowait(item)

    def _decode_loop(self) -> None:
        container, attempt, index, last_t = self._container, 0, 0, -1.0
        h, w = self.size
        try:
            while not self._stop.is_set():
                try:
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    tb = stream.time_base or Fraction(1, 1000)
                    start = time.monotonic()
                    for frame in container.decode(stream):
                        if self._stop.is_set():
                            return
                        if self.live:
                            t = time.monotonic() - start if self.network else float(frame.time or 0.0)
                        else:
                            t = float(frame.pts * tb) if frame.pts is not None else index / (self.fps or 25.0)
                        if t <= last_t:  # timestamps must grow (VFR, broken pts)
                            t = last_t + 1.0 / (self.fps or 25.0)
                        last_t = t
                        image = frame.to_ndarray(width=w, height=h, format="rgb24")
                        display = frame.to_ndarray(format="rgb24") if self.display else None
                        self._put(Frame(index=index, t=t, image=image, tc=_timecode(frame), display=display))
                        index += 1
                        attempt = 0
                    break  # end of stream
                except av.error.FFmpegError as exc:
                    if not self.network or attempt >= self.reconnect.attempts:
                        raise SourceError(f"{self.uri}: decoding failed after {index} frames ({exc})") from None
                    container = self._reopen(attempt, exc)
                    attempt += 1
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            container.close()
            self._put(_END)

    def _reopen(self, attempt: int, exc: Exception) -> av.container.InputContainer:
        wait = min(self.reconnect.first * 2**attempt, self.reconnect.longest)
        log.warning("%s: stream lost (%s); reconnecting in %.1f s", self.uri, exc, wait)
        self._stop.wait(wait)
        return self._open()

    # ------------------------------------------------------------------ consumer side

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in order; raises the decoder's SourceError where it happened."""
        if self._thread is None:
            raise RuntimeError("use the source as a context manager: with VideoSource(...) as src")
        seen_dropped = 0
        while True:
            item = self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            dropped, seen_dropped = self.dropped - seen_dropped, self.dropped
            yield item if not dropped else Frame(item.index, item.t, item.image, item.tc, dropped, item.display)


def _timecode(frame: av.VideoFrame) -> str | None:
    """SMPTE timecode carried by the frame's side data, if any."""
    for side in getattr(frame, "side_data", ()) or ():
        if "TIMECODE" in str(getattr(side, "type", "")).upper():
            return str(side)
    return None
