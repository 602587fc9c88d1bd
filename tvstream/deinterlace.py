"""Deinterlacing decoded frames (1080i / 576i broadcast feeds) with FFmpeg filters through PyAV."""

from __future__ import annotations

import av
import av.filter


class Deinterlacer:
    """FFmpeg's bwdif (yadif where bwdif is missing) in a PyAV filter graph: one frame out per frame in.

    The graph is built from the first frame, not the stream, since hardware decoding hands over frames
    in another pixel format; it is rebuilt if the frame geometry changes mid-stream.
    """

    def __init__(self) -> None:
        self.name = "bwdif" if "bwdif" in av.filter.filters_available else "yadif"
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[int, int, str] | None = None

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Frames ready after ``frame`` (the filter looks one frame ahead, so the first push gives none)."""
        shape = (frame.width, frame.height, frame.format.name)
        out = self.flush() if self._graph is not None and shape != self._shape else []
        if self._graph is None:
            self._graph, self._shape = self._build(frame), shape
        self._graph.push(frame)
        return out + self._pull()

    def flush(self) -> list[av.VideoFrame]:
        """The frames still held by the filter; the next push builds a fresh graph."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._pull()
        self._graph = None
        return out

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                  time_base=frame.time_base)
        deinterlace = graph.add(self.name, "mode=send_frame")  # one frame per frame, not one per field
        sink = graph.add("buffersink")
        source.link_to(deinterlace)
        deinterlace.link_to(sink)
        graph.configure()
        return graph

    def _pull(self) -> list[av.VideoFrame]:
        frames = []
        while True:
            try:
                frames.append(self._graph.pull())
            except (BlockingIOError, EOFError):
                return frames
