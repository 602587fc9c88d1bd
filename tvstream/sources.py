"""Video sources: files, cameras, network URLs and stdin (``-``), decoded by PyAV in a thread, scaled to the model.

A source is a context manager whose ``frames()`` generator yields :class:`Frame` objects at the model's
input size, upright (a phone's rotation is applied), the source's aspect kept (``fit``: black bars around a
source of another shape, :mod:`tvstream.frame_fit`). Files deliver every frame (the decoder waits for the
consumer), as fast as it takes them or, with ``realtime``, at their own frame rate (:class:`Pacer`); live
sources (cameras, network, stdin) keep only the newest frames and count the ones they dropped, so the lag
stays bounded. Damaged packets are skipped and counted in ``errors``, never raised.
Network sources reconnect with exponential back-off when the stream breaks or ends, and frame numbers
and times carry on across the gap.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.filter
import numpy as np

from tvstream.deinterlace import Deinterlacer
from tvstream.errors import SourceError
from tvstream.frame_fit import FrameFit
from tvstream.timeline import Timeline

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp://", "rtmp://", "srt://", "http://", "https://", "tcp://", "udp://")
NETWORK_TIMEOUT = 10.0  # seconds without data before a network read gives up (and the source reconnects)
MAX_BAD_READS = 16  # unreadable stretches in a row after which a file is taken to end there
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
    """Back-off for network sources: waits ``first``, doubling up to ``longest``; gives up after ``attempts``
    failures in a row. ``at_end`` also reconnects a stream that ends cleanly (a live feed whose server hung
    up); turn it off for a finite file served over HTTP, or it plays again from the start."""

    attempts: int = 8
    first: float = 0.5
    longest: float = 8.0
    at_end: bool = True

    def delay(self, failures: int) -> float:
        """Seconds to wait before the next try, after ``failures`` failed tries in a row."""
        return min(self.first * 2**failures, self.longest)


class Pacer:
    """Holds frames back to their own times on the wall clock, as ``ffmpeg -re`` does: the frame at time ``t``
    is due ``t - t_first`` seconds after the first one was, so late wake-ups never add up to drift.

    ``clock`` and ``sleep`` are injectable (tests use a fake clock).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self._clock, self._sleep = clock, sleep
        self._origin: tuple[float, float] | None = None  # (wall clock, frame time) of the first frame

    def wait(self, t: float) -> None:
        """Return once the frame at time ``t`` (seconds) is due; the first frame is due at once."""
        now = self._clock()
        if self._origin is None:
            self._origin = (now, t)
            return
        delay = self._origin[0] + (t - self._origin[1]) - now
        if delay > 0:  # behind schedule (a slow consumer), frames go out at once until it has caught up
            self._sleep(delay)


def camera_device(uri: str) -> str | None:
    """The V4L2 device a URI names (``camera:N`` -> ``/dev/videoN``, ``/dev/videoN`` as is), else None."""
    if match := re.fullmatch(r"camera:(\d+)", uri):
        return f"/dev/video{match[1]}"
    return uri if re.fullmatch(r"/dev/video\d+", uri) else None


def network_options(uri: str) -> dict[str, str]:
    """FFmpeg options for a network URL: RTSP over TCP (no UDP packet loss) and a read timeout in µs.

    RTSP names its socket timeout ``timeout``; every other protocol takes the generic ``rw_timeout``
    (``timeout`` would put RTMP into listen mode).
    """
    micros = str(int(NETWORK_TIMEOUT * 1e6))
    if uri.startswith("rtsp://"):
        return {"rtsp_transport": "tcp", "timeout": micros}
    return {"rw_timeout": micros}


class VideoSource:
    """Open ``uri`` (a path, ``camera:N`` or ``/dev/videoN``, ``-`` for stdin, or a network URL) and decode
    it at ``size = (H, W)``.

    Args:
        queue_size: decoded frames buffered ahead of the consumer.
        reconnect: back-off for network sources.
        display: also deliver each frame at source size (``Frame.display``), for overlays.
        deinterlace: run FFmpeg's bwdif (yadif where bwdif is missing) on every frame, for 1080i feeds.
        hwaccel: decode on this FFmpeg hardware device type (``"cuda"``); decodes on the CPU, with a
            warning, when the device cannot be created. Unknown names raise ValueError.
        keep_aspect: place the frame in the model's size with its aspect kept (black bars); False stretches it,
            for models that learnt from stretched frames (``ModelMetadata.keeps_aspect``).
        realtime: deliver frames no faster than their timestamps (:class:`Pacer`), from the first one read;
            ignored by live sources, which are real time already.

    Attributes set on opening: ``width``, ``height`` (upright source size), ``fps``, ``num_frames``,
    ``rotation`` (degrees counter-clockwise applied to make frames upright), ``fit`` (where the source sits in
    the model's frame: :class:`tvstream.frame_fit.FrameFit`); counters updated while
    decoding: ``dropped`` (live frames discarded), ``errors`` (damaged packets or frames skipped),
    ``reconnects`` (network streams reopened).
    """

    def __init__(self, uri: str, size: tuple[int, int], queue_size: int = 8,
                 reconnect: Reconnect = Reconnect(), display: bool = False, deinterlace: bool = False,
                 hwaccel: str | None = None, live: bool | None = None, realtime: bool = False,
                 keep_aspect: bool = True) -> None:
        self.uri = str(uri)
        self.size = size
        self.keep_aspect = keep_aspect
        self._resized = False  # warned that the stream changed size
        self.device = camera_device(self.uri)
        self.network = self.uri.startswith(NETWORK_SCHEMES)
        self.streaming = self.network or self.device is not None or self.uri == "-"  # no file on disk
        # live: the newest frame wins when the consumer lags. A pipe is not live by default: it blocks its
        # writer, so `ffmpeg ... | tvstream run -` processes every frame (pass live=True for a real-time feed)
        self.live = (self.network or self.device is not None) if live is None else live
        self.realtime = realtime and not self.live  # a forced-live file would drop frames while held back
        if realtime and self.live:
            log.info("%s: a live source is real time already; realtime pacing is off", self.uri)
        self.reconnect = reconnect
        self.display = display
        self.deinterlace = deinterlace
        self._hwaccel = _hwaccel(hwaccel)
        self.dropped = self.errors = self.reconnects = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None  # the decoding thread, started by frames()
        self._entered = False
        self._error: BaseException | None = None
        self._index = 0  # frames delivered so far: the next frame's index, across reconnects
        self._failures = 0  # reconnect attempts since the last delivered frame
        if not self.streaming and not Path(self.uri).is_file():
            raise SourceError(f"{self.uri}: no such video file")
        self._container = self._open()  # fail early, in the caller's thread, with a clear message
        self._pending = self._probe(self._container)

    # ------------------------------------------------------------------ opening

    def _open(self) -> av.container.InputContainer:
        try:
            container = self._open_container()
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.uri}: cannot open video ({exc})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.uri}: no video stream")
        return container

    def _open_container(self) -> av.container.InputContainer:
        if self.device is not None:
            return av.open(self.device, format="video4linux2", hwaccel=self._hwaccel)
        if self.network:
            return av.open(self.uri, options=network_options(self.uri), timeout=NETWORK_TIMEOUT,
                           hwaccel=self._hwaccel)
        return av.open("pipe:0" if self.uri == "-" else self.uri, hwaccel=self._hwaccel)

    def _probe(self, container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
        """Read the stream's rate and its first frame, whose display matrix gives the upright size.

        Returns every frame of the stream again, the first one included, for the decoding thread.
        """
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.num_frames = stream.frames or None
        self._timeline = Timeline(step=1.0 / (self.fps or 25.0), from_zero=self.streaming)
        decoded = self._decoded(container)
        try:
            first = next(decoded)
        except StopIteration:
            container.close()
            raise SourceError(f"{self.uri}: no decodable video frame") from None
        except av.error.FFmpegError as exc:
            container.close()
            raise SourceError(f"{self.uri}: cannot decode video ({exc})") from None
        # PyAV's side-data objects and their frame keep each other alive until the cycle collector runs (at 1080p
        # that held ~400 MB of frames): read timecodes only where the first frame carries one
        self._timecodes = _timecode(first) is not None
        self.rotation = first.rotation
        self._turns = round(first.rotation / 90) % 4  # quarter turns counter-clockwise
        w, h = self._stored = first.width, first.height  # as decoded (a later size is scaled to it)
        self.width, self.height = (h, w) if self._turns % 2 else (w, h)
        self.fit = (FrameFit.of if self.keep_aspect else FrameFit.stretched)((self.height, self.width), self.size)
        return itertools.chain([first], decoded)

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> VideoSource:
        self._entered = True  # decoding starts with the first call of frames(): refit() may come before it
        return self

    def refit(self, size: tuple[int, int]) -> None:
        """Deliver frames of ``size = (H, W)`` instead (a model chosen for this source, :mod:`tvstream.detector_view`,
        reads another frame size); only before :meth:`frames` starts decoding."""
        if self._thread is not None:
            raise RuntimeError("refit() after decoding started: frames of the old size are already queued")
        self.size = tuple(size)
        self.fit = (FrameFit.of if self.keep_aspect else FrameFit.stretched)((self.height, self.width), self.size)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding and release the container."""
        self._stop.set()
        if self._thread is None:
            self._container.close()
        while self._thread is not None and self._thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.1)

    # ------------------------------------------------------------------ decoding thread

    def _decode_loop(self) -> None:
        container, decoded = self._container, self._pending
        try:
            while (lost := self._pump(decoded)) is not None:
                container.close()
                container = self._reopen(lost)
                if container is None:
                    return
                decoded = self._decoded(container)
                self._timeline.restart()
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            if container is not None:
                container.close()
            self._put(_END)

    def _pump(self, decoded: Iterator[av.VideoFrame]) -> str | None:
        """Deliver one connection's frames; return why a network stream stopped, None when done."""
        try:
            for frame in decoded:
                if self._stop.is_set():
                    return None
                self._put(self._frame(frame))
                self._failures = 0
        except av.error.FFmpegError as exc:
            if not self.network:
                raise SourceError(f"{self.uri}: decoding failed after {self._index} frames ({exc})") from None
            return str(exc)
        return "stream ended" if self.network and self.reconnect.at_end and not self._stop.is_set() else None

    def _reopen(self, reason: str) -> av.container.InputContainer | None:
        """Reopen a lost network stream after a back-off; None when closed meanwhile."""
        while self._failures < self.reconnect.attempts:
            wait = self.reconnect.delay(self._failures)
            log.warning("%s: %s; reconnecting in %.1f s", self.uri, reason, wait)
            if self._stop.wait(wait):
                return None
            self._failures += 1
            try:
                container = self._open()
            except SourceError as exc:
                reason = str(exc)
                continue
            self.reconnects += 1
            return container
        raise SourceError(f"{self.uri}: stream lost after {self._index} frames and {self._failures} "
                          f"failed reconnects ({reason})")

    def _decoded(self, container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
        """Decoded (and deinterlaced) frames of one connection or file."""
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        deinterlacer = Deinterlacer() if self.deinterlace else None
        for packet in self._packets(container, stream):
            for frame in self._decode_packet(packet):
                yield from deinterlacer.push(frame) if deinterlacer else (frame,)
        if deinterlacer:
            yield from deinterlacer.flush()

    def _packets(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.Packet]:
        """Demuxed packets. A network read error ends the connection; in a file or pipe the unreadable
        stretch is counted and skipped, so one bad block does not lose the rest."""
        bad_reads = 0
        while True:
            try:
                for packet in container.demux(stream):
                    bad_reads = 0
                    yield packet
                return
            except av.error.FFmpegError as exc:
                if self.network:
                    raise
                self.errors += 1
                bad_reads += 1
                log.warning("%s: unreadable data after frame %d (%s)", self.uri, self._index, exc)
                if bad_reads >= MAX_BAD_READS:
                    return

    def _decode_packet(self, packet: av.Packet) -> list[av.VideoFrame]:
        """The packet's frames, or none when the packet or its frames are damaged (counted in ``errors``);
        a frame concealed by the decoder is no input for a pose model."""
        if packet.is_corrupt:
            self.errors += 1
            return []
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.debug("%s: damaged packet skipped (%s)", self.uri, exc)
            self.errors += 1
            return []
        intact = [frame for frame in frames if not frame.is_corrupt]
        self.errors += len(frames) - len(intact)
        return intact

    def _frame(self, frame: av.VideoFrame) -> Frame:
        h, w = self.fit.content  # the aspect kept, bars around it (tvstream.frame_fit)
        if self._turns % 2:  # scale to the sideways size, then turn upright
            h, w = w, h
        image = self.fit.place(upright(frame.to_ndarray(width=w, height=h, format="rgb24"), self._turns))
        sw, sh = self._stored
        if not self._resized and (frame.width != sw or frame.height != sh):
            self._resized = True  # a reconnected stream that came back at another size: once
            log.warning("%s: the stream is %dx%d now (it was %dx%d when opened): its frames are scaled to the first "
                        "size, and poses stay in its pixels", self.uri, frame.width, frame.height, sw, sh)
        display = upright(frame.to_ndarray(width=sw, height=sh, format="rgb24"), self._turns) if self.display else None
        index, self._index = self._index, self._index + 1
        tc = _timecode(frame) if self._timecodes else None
        return Frame(index=index, t=self._timeline(frame.time), image=image, tc=tc, display=display)

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

    # ------------------------------------------------------------------ consumer side

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Decoded frames in order, until the end or ``stop`` is set (checked while waiting on a stalled stream).

        Raises the decoder's SourceError where it happened.
        """
        if not self._entered:
            raise RuntimeError("use the source as a context manager: with VideoSource(...) as src")
        if self._thread is None:
            self._thread = threading.Thread(target=self._decode_loop, name="tvstream-decode", daemon=True)
            self._thread.start()
        seen_dropped = 0
        pacer = Pacer(sleep=stop.wait if stop is not None else time.sleep) if self.realtime else None
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if stop is not None and stop.is_set():
                    return
                continue
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            if pacer is not None:
                pacer.wait(item.t)
            dropped, seen_dropped = self.dropped - seen_dropped, self.dropped
            yield item if not dropped else Frame(item.index, item.t, item.image, item.tc, dropped, item.display)


def _hwaccel(name: str | None) -> object | None:
    """PyAV's HWAccel for an FFmpeg device type, or None (decode on the CPU) when the device cannot be made.

    The device is tried once here, so a machine without the GPU or driver warns and falls back at once,
    while a later failure to open (a network hiccup) is never mistaken for a missing device.
    """
    if name is None:
        return None
    from av.codec.hwaccel import HWAccel, HWDeviceType

    if name not in HWDeviceType.__members__ or name == "none":
        raise ValueError(f"hwaccel {name!r} is not an FFmpeg device type (e.g. 'cuda', 'vaapi')")
    try:
        HWAccel(name).create(av.Codec("h264", "r"))  # H.264: what cuda, vaapi, qsv and videotoolbox all decode
    except (av.error.FFmpegError, NotImplementedError) as exc:
        log.warning("hardware decoding on %r unavailable (%s); decoding on the CPU", name, exc)
        return None
    return HWAccel(name, allow_software_fallback=True)


def upright(image: np.ndarray, turns: int) -> np.ndarray:
    """``image`` turned ``turns`` quarter turns counter-clockwise, the way its display matrix asks."""
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _timecode(frame: av.VideoFrame) -> str | None:
    """SMPTE timecode carried by the frame's side data, if any."""
    for side in getattr(frame, "side_data", ()) or ():
        if "TIMECODE" in str(getattr(side, "type", "")).upper():
            return str(side)
    return None

