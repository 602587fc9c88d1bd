"""Tracking between frames: the crop that follows the athlete's joints, and the gravity-aware box for diving.

``JointTracker``: for models with a ``track`` input, a frame whose joints are confident places the next
frame's crop around them, so the detector runs only to (re)acquire the athlete.

``GravityBoxTracker``: a diver in free fall has constant vertical acceleration, so a least-squares quadratic
over the last few frames predicts the centre far better than the per-frame detection, and a straight line
does for the horizontal drift. The box size is a running median. Used by ``tvstream run --scenario dive``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from tvstream.skeleton import CORE_JOINTS, H36M_17  # the limbs' joints: spine, neck and head are guessed even when unseen

CORE_INDEX = np.asarray(CORE_JOINTS)  # index array built once: the per-frame code indexes with it
HIPS = np.asarray([H36M_17.index("rhip"), H36M_17.index("lhip")])
SHOULDERS = np.asarray([H36M_17.index("rshoulder"), H36M_17.index("lshoulder")])
BODY_AXIS = np.concatenate([HIPS, SHOULDERS])  # the joints a turned crop's angle is read from


def body_angle(pose2d: np.ndarray) -> float | None:
    """The body's angle from upright (radians) in ``pose2d (K, 2)`` pixels: that of its hips-to-shoulders
    direction (``atan2(dx, -dy)``: 0 upright, a quarter turn with the shoulders to the right of the hips), the angle
    a crop turned with the body has (MediaPipe's region of interest); None where that direction is not finite."""
    dx, dy = pose2d[SHOULDERS].mean(axis=0) - pose2d[HIPS].mean(axis=0)
    return float(np.arctan2(dx, -dy)) if math.isfinite(dx) and math.isfinite(dy) and (dx or dy) else None


def core_confidence(conf: np.ndarray) -> float:
    """Mean of ``conf (K,)`` per-joint confidence over the 12 :data:`CORE_JOINTS` (NaN stays NaN)."""
    conf = np.asarray(conf)
    if conf.shape != (H36M_17.num_joints,):
        raise ValueError(f"conf must be ({H36M_17.num_joints},), got {conf.shape}")
    return float(conf[CORE_INDEX].mean())


class JointTracker:
    """The ``track`` input row ``[use, cx, cy, hx, hy]`` for the next frame, from this frame's joints.

    After a detected frame whose core joints' mean confidence is >= ``min_conf`` (>= ``keep_conf`` while the crop
    already follows joints: hysteresis, so a fairly sure read keeps the crop it has), the next crop is centred on
    the extent of the joints with confidence >= ``joint_conf``; its half-size is that extent's times ``grow``
    (the joints lie inside the body: the head top, feet and hands are beyond them; over the 74,000 labeled
    training frames the body's box is 1.075x the joints' extent on its longer side, the side the crop reads)
    plus ``pad`` of the frame on each side. The crop then matches what the model was trained on. Measured on
    held-out training-world clips (2 ski, 2 ski on photos, 2 studio, 2 studio on photos; 500 frames, no bench or
    sample clip): grow 1.15 with pad 0.04 made PCK@0.2 0.67 (a crop ~25% wider than trained, for a small
    athlete much more), grow 1.1 without pad 0.81, no tracking 0.78. Any other frame resets it: the detector
    places the next crop. Units are normalised frame
    coordinates (-1..1, pixel ``x`` at ``(2x + 1) / W - 1``).

    With ``shrink`` > 0, a crop placed from a frame's joints (:meth:`place`: the next frame's, or a detector
    frame's second read) has its longer side (pixels) at least ``shrink`` times that of the crop placed from the
    last frame's read, when that frame was detected and its read at least ``keep_conf`` sure (the read's centre
    kept): a read that sees only part of a person (the legs hidden by a car, folded into the visible torso) would
    otherwise shrink the crop onto that part, and the next read would see only it again. A body's extent changes
    by a few percent a frame (a diver's tuck, under 7% at 30 frames a second); a camera cut starts the tracking
    afresh (:meth:`forget`).

    With ``turn`` (a model whose crop turns with the body, ``ModelMetadata.track_columns`` 6) the row gains the
    crop's angle ``a`` (radians), MediaPipe's way: the hips-to-shoulders direction in pixels stands upright in the
    next crop (``a = atan2(dx, -dy)``; 0 when a hip or shoulder is under ``joint_conf``), and the extent, centre
    and half-size are those of the joints in the turned crop's axes.

    Args:
        input_size: ``(H, W)`` of the model input the joints are in (pixels).
    """

    def __init__(self, input_size: tuple[int, int], min_conf: float = 0.5, joint_conf: float = 0.3,
                 grow: float = 1.1, pad: float = 0.0, turn: bool = False, keep_conf: float | None = None,
                 shrink: float = 0.0) -> None:
        if not (0 <= min_conf <= 1 and 0 <= joint_conf <= 1):
            raise ValueError(f"min_conf and joint_conf must be in [0, 1], got {min_conf}, {joint_conf}")
        keep_conf = min_conf if keep_conf is None else keep_conf
        if not 0 <= keep_conf <= min_conf:
            raise ValueError(f"keep_conf must be in [0, min_conf], got {keep_conf}")
        if grow < 1 or not 0 <= pad < 0.5:
            raise ValueError(f"need grow >= 1 and 0 <= pad < 0.5, got {grow}, {pad}")
        if not 0 <= shrink <= 1:
            raise ValueError(f"shrink must be in [0, 1], got {shrink}")
        h, w = input_size
        self._size = np.array([w, h], np.float64)  # (x, y) pixels
        self.min_conf, self.joint_conf, self.grow, self.pad, self.turn = min_conf, joint_conf, grow, pad, turn
        self.keep_conf, self.shrink = keep_conf, shrink
        self._track = np.zeros(6 if turn else 5, np.float32)
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # the last detected frame's pose2d, conf
        self.last_core = 0.0  # ... and that read's core-joint mean confidence (0: that frame was not detected)
        self._placed = 0.0  # the longer side (pixels) of the crop placed from the last frame's read (0: none)

    def track(self) -> np.ndarray:
        """The next frame's ``(5,)`` float32 row (``(6,)`` with ``turn``); ``use`` 0 (all zeros) lets the detector
        place the crop."""
        return self._track.copy()

    def reset(self) -> None:
        self._track = np.zeros_like(self._track)

    def forget(self) -> None:
        """A new shot: the detector places the next crop, and the last frame's joints are no one's (no held read)."""
        self.reset()
        self._last, self.last_core, self._placed = None, 0.0, 0.0

    def angle(self, pose2d: np.ndarray, conf: np.ndarray) -> float:
        """The body's angle from upright (radians): that of the hips-to-shoulders direction, 0 unless all four are
        at least ``joint_conf``."""
        if not (np.asarray(conf)[BODY_AXIS] >= self.joint_conf).all():
            return 0.0
        a = body_angle(pose2d)
        return 0.0 if a is None else a

    def update(self, pose2d: np.ndarray, conf: np.ndarray | None, detected: bool, alone: bool = True) -> None:
        """Take frame t's ``pose2d (K, 2)`` model pixels and ``conf (K,)``; sets the row frame t + 1 gets.
        ``alone``: nobody else is near the person, so a read under ``min_conf`` (at ``keep_conf``) may keep the
        crop following; with someone near, the crop drifts onto them on such reads."""
        self._last = (pose2d, conf) if detected and conf is not None else None
        self.last_core = core_confidence(conf) if self._last is not None else 0.0
        enough = self.keep_conf if self._track[0] >= 0.5 and alone else self.min_conf  # following: keep_conf
        # with a floor, any read sure enough to keep a crop following sets the next frame's floor
        needed = self.keep_conf if self.shrink else enough
        placed = self.place(pose2d, conf) if self._last is not None and self.last_core >= needed else None
        self._placed = self._long_side(placed) if placed is not None and self.shrink else 0.0
        if placed is None or self.last_core < enough:
            self.reset()
        else:
            self._track = placed

    def place(self, pose2d: np.ndarray, conf: np.ndarray) -> np.ndarray | None:
        """:meth:`row` around ``pose2d (K, 2)``, ``conf (K,)``, grown (its centre kept, each half-size at most 1)
        so that its longer side is at least ``shrink`` times that of the crop placed from the last frame's read."""
        row = self.row(pose2d, conf)
        if row is None or not self.shrink or not self._placed:
            return row
        floor, side = self.shrink * self._placed, self._long_side(row)
        if side < floor:
            row[3:5] = np.minimum(row[3:5] * (floor / side) if side > 0 else floor / self._size, 1.0)
        return row

    def _long_side(self, row: np.ndarray) -> float:
        """The longer side (pixels) of the crop ``row`` places."""
        return float(np.max(row[3:5] * self._size))

    def last_row(self) -> np.ndarray | None:
        """The row around the last detected frame's joints whatever their confidence (:meth:`row`); None when that
        frame was not detected or too few of its joints are confident. Made only when asked: a run reads it on few
        frames (``RunOptions.hold_read``)."""
        return None if self._last is None else self.row(*self._last)

    def row(self, pose2d: np.ndarray, conf: np.ndarray) -> np.ndarray | None:
        """The row that crops around ``pose2d (K, 2)`` (model pixels) whatever their mean confidence, from the joints
        whose ``conf`` is >= ``joint_conf``; None when fewer than 2 are."""
        good = (np.asarray(conf) >= self.joint_conf) & np.isfinite(pose2d).all(axis=1)
        if good.sum() < 2:
            return None
        points = pose2d[good]  # (n, 2) pixels
        if self.turn:  # the joints in the turned crop's axes; an upright tracker builds no matrix
            a = self.angle(pose2d, conf)
            turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            points = points @ turn
        lo, hi = points.min(axis=0), points.max(axis=0)
        mid = (lo + hi) / 2 if not self.turn else turn @ ((lo + hi) / 2)  # the extent's centre in the frame's axes
        centre = np.clip((2 * mid + 1) / self._size - 1, -1, 1)  # normalised
        half = np.minimum((hi - lo) / self._size * self.grow + 2 * self.pad, 1.0)  # 2 * pad: the frame spans 2
        return np.array([1.0, *centre, *half, a] if self.turn else [1.0, *centre, *half], np.float32)


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
