"""Is the camera still? The global shift between consecutive frames, by phase correlation of small grey images.

The athlete's tracker (:mod:`tvstream.athlete`) judges crossings with constant-velocity predictions in the image,
which hold only where still things stay still: with a camera that pans and zooms with the athlete (a ski
broadcast) a post or a bystander sweeps across the image. The run measures the shift of every frame against
the last one at 1/4 of the model's resolution (a 72 x 128 FFT) and calls the camera moving
while the median shift of the last ``window`` comparisons is at least ``min_shift`` pixels of that small image
(2 px every 2 frames: 0.8% of the width per frame). A fixed camera reads 0, with 1 px jumps while a big passer-by
walks through the frame; the skier's panning camera of ``examples/sample_ski.mp4`` reads 3-6 px.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def small_grey(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """``image (H, W, 3)`` uint8 -> its green channel at every ``factor``-th pixel, zero-mean, ``float32`` (a
    subsample, not a block mean: the run's per-frame budget is a millisecond)."""
    grey = image[::factor, ::factor, 1].astype(np.float32)
    grey -= grey.mean()
    return grey


def _spectrum(grey: np.ndarray) -> np.ndarray:
    return np.fft.rfft2(grey)


def phase_correlation(fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The phase correlation surface of two ``shape`` images from their spectra (``rfft2``): a peak of height 1 at
    the shift that moves one onto the other where it is a whole-pixel shift, a few hundredths where they are
    unrelated."""
    cross = fb * np.conj(fa)
    return np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=shape)


def shift_between(fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """The whole-pixel ``(dx, dy)`` that moves the image of spectrum ``fa`` onto that of ``fb`` (``rfft2`` of two
    ``shape`` images), by phase correlation."""
    surface = phase_correlation(fa, fb, shape)
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = shape
    return int(dx - w if dx > w // 2 else dx), int(dy - h if dy > h // 2 else dy)


def phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """The whole-pixel ``(dx, dy)`` that moves ``a`` onto ``b`` (same shape), by phase correlation."""
    return shift_between(_spectrum(a), _spectrum(b), a.shape)


class CameraMotion:
    """Feed frames in order (:meth:`observe`); :attr:`moving` says whether the camera has been moving lately.
    Every ``every``-th frame is compared with the last one compared (a pan is slow next to the frame rate), about
    0.35 ms each on one core."""

    def __init__(self, window: int = 8, min_shift: float = 2.0, factor: int = 4, every: int = 2,
                 picture: tuple[slice, slice] | None = None) -> None:
        self.window, self.min_shift, self.factor, self.every = window, min_shift, factor, every
        # the rows and columns of the model frame the source fills (tvstream.frame_fit): the black bars beside a
        # portrait picture never move, and compared with it they pull a pan's shift to 0. A portrait window of the
        # panning sample clip reads as moving in 35% of its frames with the bars, 56% without (the whole clip: 94%;
        # in the narrow picture the athlete the camera follows fills much of what is compared)
        self.picture = picture
        self._last: tuple[np.ndarray, tuple[int, int]] | None = None
        self._shifts: deque[float] = deque(maxlen=window)
        self._count = 0
        self.moving = False  # the median of the last `window` shifts >= min_shift (updated per comparison)

    def reset(self) -> None:
        """Forget the frames so far (a new shot): the next comparisons decide :attr:`moving` again."""
        self._last, self._count, self.moving = None, 0, False
        self._shifts.clear()

    def observe(self, image: np.ndarray) -> bool:
        """Take the next frame (model frame, ``(H, W, 3)`` uint8); returns :attr:`moving`."""
        self._count += 1
        if self._last is not None and (self._count - 1) % self.every:
            return self.moving
        grey = small_grey(image if self.picture is None else image[self.picture], self.factor)
        spectrum = _spectrum(grey)
        if self._last is not None and self._last[1] == grey.shape:
            self._shifts.append(float(np.hypot(*shift_between(self._last[0], spectrum, grey.shape))))
            self.moving = small_median(self._shifts) >= self.min_shift
        self._last = (spectrum, grey.shape)
        return self.moving


def small_median(values: deque[float]) -> float:
    """The median of a few numbers (numpy's costs ~0.3 ms a call, a sort of 8 floats a microsecond)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
