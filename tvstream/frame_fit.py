"""How a source frame fits the model's input: scaled by one factor, centred, the rest padded black.

A phone's portrait video (1080x1920) stretched to a 512x288 model frame would make every person three
times thinner than any the model learnt from; a 4:3 camera, a third thinner. So the frame keeps its aspect
and bars fill the rest, as the black border of the training crops does. A source of the model's aspect
fills the frame exactly, as before. Points map both ways: pixel centres at integers (``to_source`` /
``to_model``) or edges at integers (``edges=True``, for boxes normalised by the frame's size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class FrameFit:
    """A source of ``source = (H, W)`` pixels inside a model frame of ``model = (H, W)``: its content is
    ``content = (h, w)`` pixels with its top-left corner at ``offset = (x, y)`` (sizes are (H, W) as arrays are;
    points and offsets are (x, y) as image coordinates are)."""

    source: tuple[int, int]
    model: tuple[int, int]
    content: tuple[int, int]
    offset: tuple[int, int]

    @classmethod
    def of(cls, source: tuple[int, int], model: tuple[int, int]) -> FrameFit:
        """The fit of a ``source = (H, W)`` frame in a ``model = (H, W)`` one: the largest content of the source's
        aspect that fits, centred (an odd leftover puts the extra pixel after it)."""
        (sh, sw), (mh, mw) = source, model
        if min(sh, sw, mh, mw) < 1:
            raise ValueError(f"sizes must be positive, got source {source}, model {model}")
        s = min(mw / sw, mh / sh)
        ch, cw = min(mh, max(1, round(sh * s))), min(mw, max(1, round(sw * s)))
        return cls(source=(sh, sw), model=(mh, mw), content=(ch, cw), offset=((mw - cw) // 2, (mh - ch) // 2))

    @classmethod
    def stretched(cls, source: tuple[int, int], model: tuple[int, int]) -> FrameFit:
        """The whole model frame is the source, each axis scaled on its own: what models trained on stretched
        frames (the self-supervised graphs of ``train/ssl``) expect."""
        return cls(source=tuple(source), model=tuple(model), content=tuple(model), offset=(0, 0))

    @property
    def fills(self) -> bool:
        """Whether the content is the whole model frame (no bars)."""
        return self.content == self.model

    @property
    def picture(self) -> tuple[slice, slice]:
        """The rows and columns of the model frame that the source fills (``image[fit.picture]``)."""
        (h, w), (x, y) = self.content, self.offset
        return slice(y, y + h), slice(x, x + w)

    def view_row(self) -> np.ndarray:
        """The ``track`` row ``[0, cx, cy, hx, hy]`` (float32) of a frame whose crop the detector places: the
        smallest square around the picture, normalised over the model frame. A model whose person detector reads
        a square view (``PoseNetConfig.person_view``) reads this one, as MediaPipe letterboxes a source into its
        square input (a portrait source's person is then 1.75x the size it has in the whole 16:9 frame); other
        models ignore the box of a row whose ``use`` is 0."""
        (h, w), (x, y), (mh, mw) = self.content, self.offset, self.model
        side = max(h, w)
        return np.array([0.0, (x + w / 2) / (mw / 2) - 1, (y + h / 2) / (mh / 2) - 1, side / mw, side / mh],
                        np.float32)

    def tile_rows(self) -> np.ndarray:
        """``(n, 5)`` track rows ``[0, cx, cy, hx, hy]`` of squares as tall as a landscape picture, side by side
        across it from its left edge to its right (overlapping where its width is not a multiple of its height;
        ``n = ceil(w / h)``): a square-view person detector reading one sees a person at ``w / h`` times the size
        the whole picture's letterbox gives them. An upright picture is its own square (one row, :meth:`view_row`)."""
        (h, w), (x, y), (mh, mw) = self.content, self.offset, self.model
        n = max(1, math.ceil(w / h - 1e-9))
        if n == 1:
            return self.view_row()[None]
        centres = x + h / 2 + np.arange(n) * (w - h) / (n - 1)  # model pixels
        rows = np.zeros((n, 5), np.float32)
        rows[:, 1] = centres / (mw / 2) - 1
        rows[:, 2] = (y + h / 2) / (mh / 2) - 1
        rows[:, 3], rows[:, 4] = h / mw, h / mh
        return rows

    def view_rows(self, n: int) -> np.ndarray:
        """``(n, 5)`` copies of :meth:`view_row`: the track input of ``n`` frames the detector places."""
        return np.repeat(self.view_row()[None], n, 0)

    @cached_property
    def scale(self) -> np.ndarray:
        """(x, y) source pixels per model pixel."""
        return np.array([self.source[1] / self.content[1], self.source[0] / self.content[0]])

    @cached_property
    def _to_source_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """(centres, edges): what ``to_source`` adds after scaling, so a call makes two arrays, not four."""
        shift = np.array(self.offset, np.float64)
        return (0.5 - shift) * self.scale - 0.5, -shift * self.scale

    def to_source(self, points: np.ndarray, edges: bool = False) -> np.ndarray:
        """(..., 2) model-frame coordinates -> the source's (the per-frame mapping of the run's joints and box)."""
        return points * self.scale + self._to_source_shift[edges]

    def to_model(self, points: np.ndarray, edges: bool = False) -> np.ndarray:
        """(..., 2) source coordinates -> the model frame's."""
        half = 0.0 if edges else 0.5
        return (np.asarray(points) + half) / self.scale + np.array(self.offset) - half

    def normalised_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(..., 4) source boxes ``[x0, y0, x1, y1]`` (edges) -> ``[cx, cy, hx, hy]`` over the model frame, -1..1:
        how the training cache and the detector's crop read a labeled box."""
        corners = self.to_model(np.asarray(boxes, np.float64).reshape(*np.shape(boxes)[:-1], 2, 2), edges=True)
        corners = corners / (np.array(self.model[::-1]) / 2)  # (..., 2 corners, xy) in 0..2
        return np.concatenate([corners.mean(axis=-2) - 1, (corners[..., 1, :] - corners[..., 0, :]) / 2], axis=-1)

    def place(self, content: np.ndarray) -> np.ndarray:
        """The model frame (H, W, C) holding ``content`` (h, w, C), black around it."""
        if self.fills:
            return content
        frame = np.zeros((*self.model, content.shape[2]), content.dtype)
        (x, y), (h, w) = self.offset, self.content
        frame[y:y + h, x:x + w] = content
        return frame
