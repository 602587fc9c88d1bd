"""Gravity-aware box tracking for diving: the box centre follows a parabola, its size changes slowly.

A diver in free fall has constant vertical acceleration, so a least-squares quadratic over the last few
frames predicts the centre far better than the per-frame detection, and a straight line does for the
horizontal drift. The box size is a running median. Used by ``tvstream run --scenario dive``.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class GravityBoxTracker:
    """Smooths ``[x0, y0, x1, y1]`` boxes (pixels) at timestamps ``t`` (seconds).

    Args:
        window: frames in the fit (>= 4: three parameters of the parabola and one to spare).
        max_gap: seconds without a detection after which the track restarts.
    """

    def __init__(self, window: int = 15, max_gap: float = 0.5) -> None:
        if window < 4:
            raise ValueError(f"window must be >= 4, got {window}")
        self.window, self.max_gap = window, max_gap
        self._t: deque[float] = deque(maxlen=window)
        self._c: deque[np.ndarray] = deque(maxlen=window)
        self._size: deque[np.ndarray] = deque(maxlen=window)

    def reset(self) -> None:
        self._t.clear()
        self._c.clear()
        self._size.clear()

    def __call__(self, box: np.ndarray, t: float) -> np.ndarray:
        """The tracked box for the detection ``box`` at time ``t``."""
        box = np.asarray(box, dtype=np.float64)
        if self._t and (t - self._t[-1] > self.max_gap or t <= self._t[-1]):
            self.reset()
        centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
        self._t.append(t)
        self._c.append(centre)
        self._size.append(size)
        if len(self._t) < 4:
            return box
        ts = np.asarray(self._t) - t  # time relative to now: the fit's value at 0 is the estimate
        cs = np.stack(self._c)  # (n, 2)
        y = np.polyval(np.polyfit(ts, cs[:, 1], 2), 0.0)  # vertical: constant acceleration
        x = np.polyval(np.polyfit(ts, cs[:, 0], 1), 0.0)  # horizontal: constant velocity
        half = np.median(np.stack(self._size), axis=0) / 2
        return np.array([x - half[0], y - half[1], x + half[0], y + half[1]])
