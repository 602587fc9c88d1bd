"""Reading training frames from a video file with PyAV: probe, sequential decode, random access.

Frames are defined in presentation order: frame ``i`` is the frame with the ``i``-th smallest pts.
Random access seeks to the keyframe before that pts and decodes forward, so variable frame rate and
B-frames are handled; consecutive reads continue decoding instead of seeking again.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import av
import numpy as np

from tvstream.errors import SourceError

log = logging.getLogger(__name__)

# swscale's area filter: the right one for downscaling to training size (bilinear aliases at 4x).
INTERPOLATION = "AREA"
# Reading up to this many frames ahead decodes forward instead of seeking (a GOP is often 12-250).
_MAX_FORWARD_DECODE = 48


@dataclass(frozen=True)
class VideoInfo:
    """What probing a video found: size of the source, frame count and presentation timestamps."""

    path: Path
    width: int
    height: int
    num_frames: int
    fps: float | None
    pts: np.ndarray  # (num_frames,) int64 sorted presentation timestamps, in the stream's time base
    time_base: float


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise SourceError(f"{path}: no such video file")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise SourceError(f"{path}: cannot open video ({exc})") from None


def _video_stream(container: av.container.InputContainer, path: Path, threads: bool) -> av.video.stream.VideoStream:
    """The first video stream; FFmpeg frame threads only when ``threads`` (long sequential decodes).

    PyAV frees a decoder only when the garbage collector breaks the container's reference cycle. A
    decoder with a thread pool freed in a *forked* child (a DataLoader worker) deadlocks in FFmpeg, so
    short-lived decoders stay single-threaded and threaded ones are collected before returning.
    """
    if not container.streams.video:
        raise SourceError(f"{path}: no video stream")
    stream = container.streams.video[0]
    if threads:
        stream.thread_type = "AUTO"
    else:
        stream.codec_context.thread_count = 1
    return stream


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Index a video's frames by demuxing (no decoding) and decode its first frame to prove it is readable.

    Raises SourceError for a missing, unreadable, empty or undecodable file.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path, threads=False)
        try:
            pts = [p.pts if p.pts is not None else p.dts for p in container.demux(stream) if p.size > 0]
            container.seek(0, stream=stream, backward=True)
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise SourceError(f"{path}: corrupt video ({exc})") from None
        if first is None or not pts:
            raise SourceError(f"{path}: no decodable video frames")
        if any(p is None for p in pts):
            raise SourceError(f"{path}: video packets carry no timestamps; re-mux it (e.g. ffmpeg -c copy out.mp4)")
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=path,
            width=first.width,
            height=first.height,
            num_frames=len(pts),
            fps=float(rate) if rate else None,
            pts=np.sort(np.asarray(pts, dtype=np.int64)),
            time_base=float(stream.time_base),
        )


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return frame.to_ndarray(width=w, height=h, format="rgb24", interpolation=INTERPOLATION)  # (H, W, 3)


def decode_frames(path: str | os.PathLike, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Every frame of the video in presentation order, as uint8 RGB ``(H, W, 3)`` at ``size = (H, W)``.

    A truncated or corrupt tail ends the iteration with a warning instead of an error.
    """
    path = Path(path)
    try:
        with _open(path) as container:
            stream = _video_stream(container, path, threads=True)
            decoded = 0
            try:
                for frame in container.decode(stream):
                    decoded += 1
                    yield _to_rgb(frame, size)
            except av.error.FFmpegError as exc:
                if decoded == 0:
                    raise SourceError(f"{path}: corrupt video ({exc})") from None
                log.warning("%s: decoding stopped after %d frames (%s)", path, decoded, exc)
    finally:
        container = stream = None
        gc.collect()  # free the threaded decoder now, never in a forked child (see _video_stream)


class FrameReader:
    """Random access to the frames of one video at a fixed size (a context manager).

    Args:
        info: the video's probe result (gives the frame index -> pts mapping).
        size: output ``(H, W)``.
    """

    def __init__(self, info: VideoInfo, size: tuple[int, int]) -> None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (H, W) with positive values, got {size}")
        self.info = info
        self.size = (int(size[0]), int(size[1]))
        self._container = _open(info.path)
        self._stream = _video_stream(self._container, info.path, threads=False)
        self._frames: Iterator[av.VideoFrame] | None = None
        self._last_index = -(10**9)

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder; the reader cannot be used afterwards."""
        self._frames = None
        self._container.close()

    def __len__(self) -> int:
        return self.info.num_frames

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as uint8 RGB ``(H, W, 3)``; raises IndexError or SourceError."""
        if not 0 <= index < self.info.num_frames:
            raise IndexError(f"frame {index} outside 0..{self.info.num_frames - 1} of {self.info.path}")
        target = int(self.info.pts[index])
        ahead = index - self._last_index
        if self._frames is None or not 0 < ahead <= _MAX_FORWARD_DECODE:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
            self._frames = self._container.decode(self._stream)
        try:
            for frame in self._frames:
                if frame.pts is not None and frame.pts >= target:
                    self._last_index = index
                    return _to_rgb(frame, self.size)
        except av.error.FFmpegError as exc:
            self._frames = None
            raise SourceError(f"{self.info.path}: cannot decode frame {index} ({exc})") from None
        self._frames = None
        raise SourceError(f"{self.info.path}: video ended before frame {index} (truncated file?)")

    def read_many(self, indices: np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order) as ``(S, H, W, 3)``; decodes them in increasing order."""
        out = np.empty((len(indices), *self.size, 3), dtype=np.uint8)
        for slot in np.argsort(indices, kind="stable"):
            out[slot] = self.read(int(indices[slot]))
        return out
