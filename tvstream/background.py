"""Rolling background for live video: a per-pixel median of recent frames that ignores the athlete's box.

It answers "is anyone in the box?" (the foreground score that sets ``detected``) without the training
stack. Frames are kept small (``width`` pixels wide); the median is refreshed every ``refresh`` frames.
"""

from __future__ import annotations

import numpy as np

_GREY = np.full(3, 1 / 3, np.float32)  # channel weights of the grey image the background is kept in


def nan_median(stack: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (``np.nanmedian``'s answer, 2-4x faster here); NaN where all are.

    One sort puts the NaNs last; each pixel then takes the middle of its own count of known values.
    """
    ordered = np.sort(stack, axis=0)
    known = np.isfinite(stack).sum(axis=0)  # (h, w)
    lo = np.take_along_axis(ordered, ((np.maximum(known, 1) - 1) // 2)[None], axis=0)[0]
    hi = np.take_along_axis(ordered, (known // 2)[None].clip(max=len(stack) - 1), axis=0)[0]
    median = (lo + hi) / 2
    median[known == 0] = np.nan
    return median


class RollingBackground:
    """Background model over a ring of ``history`` downsampled frames.

    Args:
        history: frames in the ring.
        refresh: recompute the median every this many frames.
        width: working width in pixels (height follows the frame's aspect).
        threshold: grey-level difference that counts a pixel as foreground.
    """

    def __init__(self, history: int = 31, refresh: int = 30, width: int = 64, threshold: float = 25.0) -> None:
        if history < 3 or refresh < 1 or width < 8:
            raise ValueError(f"need history >= 3, refresh >= 1, width >= 8; got {history}, {refresh}, {width}")
        self.history, self.refresh, self.width, self.threshold = history, refresh, width, threshold
        self._ring: np.ndarray | None = None  # (history, h, w) float32 grey, NaN inside past boxes
        self._count = 0
        self.background: np.ndarray | None = None  # (h, w) float32

    def reset(self) -> None:
        """Forget every frame (a new shot: another place's background); the next frames build it again."""
        self._ring, self._count, self.background = None, 0, None

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        step = max(w // self.width, 1)
        return image[::step, ::step] @ _GREY  # (h', w') float32 grey, strided (no copy of the frame); 2x a .mean

    def _box_slice(self, box: np.ndarray | None, image_shape: tuple[int, ...], small_shape: tuple[int, int]):
        if box is None or not np.isfinite(box).all():
            return None
        sy, sx = small_shape[0] / image_shape[0], small_shape[1] / image_shape[1]
        x0, y0 = max(int(box[0] * sx), 0), max(int(box[1] * sy), 0)
        x1, y1 = min(int(np.ceil(box[2] * sx)), small_shape[1]), min(int(np.ceil(box[3] * sy)), small_shape[0])
        return (slice(y0, y1), slice(x0, x1)) if x1 > x0 and y1 > y0 else None

    def observe(self, image: np.ndarray, box: np.ndarray | None) -> float:
        """:meth:`score` then :meth:`update` for one frame, downsampling it once (the per-frame path)."""
        small = self._small(image)
        score = self._score(small, image.shape, box)
        self._update(small, image.shape, box)
        return score

    def score(self, image: np.ndarray, box: np.ndarray | None) -> float:
        """Fraction of pixels inside ``box`` (image pixels) that differ from the background, or that the athlete has
        covered in every frame so far (no background known there); 1.0 before a background exists."""
        return self._score(self._small(image), image.shape, box)

    def _score(self, small: np.ndarray, image_shape: tuple[int, ...], box: np.ndarray | None) -> float:
        region = self._box_slice(box, image_shape, small.shape)
        if self.background is None or region is None:
            return 1.0 if region is not None else 0.0
        diff = small[region] - self.background[region]  # a new array: take its absolute value in place
        np.abs(diff, out=diff)
        # NaN: pixels the athlete has always covered. They count as the athlete: judged on the few known pixels at
        # its edge alone, a diver standing still on the platform scored 0 (not detected) for 20 frames
        unknown = np.count_nonzero(np.isnan(diff))
        return (np.count_nonzero(diff > self.threshold) + unknown) / diff.size  # NaN > threshold is False

    def update(self, image: np.ndarray, box: np.ndarray | None) -> None:
        """Add a frame; pixels inside the subject's ``box`` do not vote for the background."""
        self._update(self._small(image), image.shape, box)

    def _update(self, small: np.ndarray, image_shape: tuple[int, ...], box: np.ndarray | None) -> None:
        if self._ring is None:
            self._ring = np.full((self.history, *small.shape), np.nan, np.float32)
        region = self._box_slice(box, image_shape, small.shape)
        slot = self._ring[self._count % self.history]
        slot[:] = small
        if region is not None:
            slot[region] = np.nan
        self._count += 1
        if self._count % self.refresh == 0 or self.background is None and self._count >= 3:
            filled = self._ring[: min(self._count, self.history)]  # pixels always covered by the athlete stay NaN
            self.background = nan_median(filled) if np.isfinite(filled).any() else None
