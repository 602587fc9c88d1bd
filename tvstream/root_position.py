"""Where the athlete is: the root's (pelvis's) position in the camera frame, its speed and height above the floor.

The pose network gives a root-relative 3D skeleton ``P_k`` (mm) and 2D joints ``u_k`` (source pixels). The root
translation ``T`` places the skeleton so that ``P_k + T`` projects onto ``u_k`` through the intrinsics ``K``.
With ``m_k = K^-1 [u_k, 1] = (a_k, b_k, 1)`` each joint gives two equations linear in ``T``::

    (X_k + Tx) - a_k (Z_k + Tz) = 0        (Y_k + Ty) - b_k (Z_k + Tz) = 0

solved by weighted least squares (:func:`solve_root`). The depth comes from the skeleton's metric size against
its size in the image, so a skeleton 5% too large puts the athlete 5% too far: the depth error scales with the
3D scale error (and, at long range, with the 2D error against the athlete's size in pixels). A wrong focal
length scales the depth the same way and leaves x and y nearly unchanged.

A monocular skeleton cannot know how tall the athlete is, so its scale is off by about the spread of adult
statures. With a known floor a second, independent estimate exists: scaled about the camera (which keeps the
fit's reprojection), the skeleton's lower ankle should stand on the floor (:func:`floor_scale`). Its error comes
from the ankle's pixel error against its angle below the horizon and from feet that are not flat; the two are
averaged by inverse variance (:func:`combined_scale`). An athlete in the air is pulled towards the floor's answer
(farther away) by its weight. ``pose3d`` stays the model's; ``root`` places the rescaled skeleton.

:class:`RootTracker` runs per frame in the pipeline: the solved root, One-Euro smoothed, its speed (finite
difference of a more heavily smoothed trajectory over the frame timestamps) and, when the camera file gives the
floor, the root's height above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvstream.camera import GroundPlane, SceneCamera
from tvstream.smoothing import OneEuroFilter

MIN_JOINTS = 4  # 8 equations for 3 unknowns: a few joints' errors cannot be fitted away unseen
MIN_DEPTH_MM = 100.0  # a solution with a joint closer to (or behind) the camera than this is refused
ANKLES = (3, 6)  # rankle, lankle
# The floor's scale estimate (:func:`floor_scale`) and how far each estimate is trusted. The sds were set a priori
# (2-6 px, 30-80 mm and 0.05-0.12 all gave 3.3-4.4% median error on benchmarks/root_position.py's first clips); the
# ankle height was then chosen on other clips than the reported ones (--seed 1): 80 / 100 / 120 / 140 mm gave
# 3.9 / 3.6 / 3.3 / 3.3% median error, the root 2.5 / 1.7 / 0.8 / -0.1% too far.
ANKLE_HEIGHT_MM = 120.0  # the lower ankle over a gait: 80 mm standing (0.039 x stature + a sole), heel-off lifts it
ANKLE_HEIGHT_SD_MM = 50.0  # the lower foot is not always flat: heel-off and swing lift it
ANKLE_PIXEL_SD = 4.0  # the 2D ankle's error, pixels
SKELETON_SCALE_SD = 0.08  # relative: adults' stature varies by ~7% (sd) and a monocular skeleton cannot see it
KNOWN_STATURE_SCALE_SD = 0.02  # a skeleton scaled to the athlete's given height (tvstream.stature): the height's
# own error and the chain's spread over bodies (0.14%) are small; the head's proportions are not exact


def solve_root(pose3d: np.ndarray, pose2d: np.ndarray, K: np.ndarray, weights: np.ndarray | None = None,
               min_joints: int = MIN_JOINTS) -> np.ndarray | None:
    """The root translation ``T`` (3,) in mm such that ``pose3d (J, 3) + T`` projects onto ``pose2d (J, 2)``.

    Joints with a non-finite coordinate or a weight <= 0 are left out. The algebraic solve is followed by one
    Gauss-Newton step on the weighted reprojection error in pixels: with 2 px of noise on a 1400 px focal length
    it cut the mean error by 3% at 10 m and 21% at 30 m (the algebraic error is biased when the noise is large
    against the athlete's size in pixels); more steps changed nothing.

    Args:
        pose3d: root-relative joints, mm, camera axes (x right, y down, z forward).
        pose2d: the same joints in pixels of the image ``K`` describes.
        K: (3, 3) intrinsics.
        weights: (J,) per-joint weights of the squared residuals (e.g. the model's confidence); None = equal.

    Returns:
        ``T`` (3,), or None with fewer than ``min_joints`` usable joints, a degenerate system (all joints on one
        pixel, a flat skeleton along the line of sight) or a solution with a joint behind the camera.
    """
    P, u = np.asarray(pose3d, dtype=np.float64), np.asarray(pose2d, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3 or u.shape != (len(P), 2):
        raise ValueError(f"need pose3d (J, 3) and pose2d (J, 2), got {P.shape} and {u.shape}")
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(P),):
        raise ValueError(f"weights must be ({len(P)},), got {w.shape}")
    ok = np.isfinite(P).all(axis=1) & np.isfinite(u).all(axis=1) & np.isfinite(w) & (w > 0)
    if ok.sum() < min_joints:
        return None
    P, w = P[ok], w[ok]
    m = np.c_[u[ok], np.ones(len(P))] @ np.linalg.inv(K).T  # (n, 3) rays with m[:, 2] = 1
    A = np.zeros((len(P), 2, 3))  # (n, 2 equations, 3 unknowns)
    A[:, 0, 0] = A[:, 1, 1] = 1.0
    A[:, :, 2] = -m[:, :2]
    b = m[:, :2] * P[:, 2:3] - P[:, :2]  # (n, 2)
    T = _weighted_lstsq(A, b, np.sqrt(w))
    if T is None or (P[:, 2] + T[2] < MIN_DEPTH_MM).any():
        return None
    T = T - _gauss_newton_step(P + T, u[ok], K, np.sqrt(w))
    if (P[:, 2] + T[2] < MIN_DEPTH_MM).any():
        return None
    return T


def _gauss_newton_step(X: np.ndarray, u: np.ndarray, K: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """The Gauss-Newton step (3,) in ``T`` of the reprojection error of camera points ``X (n, 3)`` onto ``u (n, 2)``."""
    z = X[:, 2]
    xy = X[:, :2] / z[:, None]  # (n, 2) normalised image coordinates
    r = xy @ K[:2, :2].T + K[:2, 2] - u  # (n, 2) pixels
    d = np.zeros((len(X), 2, 3))  # d(xy)/dT
    d[:, 0, 0] = d[:, 1, 1] = 1 / z
    d[:, :, 2] = -xy / z[:, None]
    J = K[:2, :2] @ d  # (n, 2, 3) pixels per mm
    step, *_ = np.linalg.lstsq((J * sw[:, None, None]).reshape(-1, 3), (r * sw[:, None]).reshape(-1), rcond=None)
    return step


def _weighted_lstsq(A: np.ndarray, b: np.ndarray, sw: np.ndarray) -> np.ndarray | None:
    """Least squares of ``A (n, 2, 3) T = b (n, 2)`` with rows scaled by ``sw (n,)``; None when rank < 3."""
    Aw = (A * sw[:, None, None]).reshape(-1, 3)  # (n, 2, 3) -> (2n, 3)
    bw = (b * sw[:, None]).reshape(-1)  # (n, 2) -> (2n,)
    T, _, rank, sv = np.linalg.lstsq(Aw, bw, rcond=None)
    if rank < 3 or sv[-1] < 1e-9 * sv[0]:
        return None
    return T


def floor_scale(joints: np.ndarray, K: np.ndarray, ground: GroundPlane,
                conf: np.ndarray | None = None) -> tuple[float, float] | None:
    """How much to scale the solved skeleton ``joints (J, 3)`` (camera mm) about the camera so its lower ankle
    stands on ``ground``: ``(scale, sd)``, with the scale's standard deviation from the ankle's pixel error and
    height above the floor; None when the ankle is not confident (< 0.3) or its ray does not meet the floor ahead.

    Scaling about the camera centre keeps every joint on its ray, so the reprojection is unchanged.
    """
    ankles = np.asarray(joints, dtype=np.float64)[list(ANKLES)]  # (2, 3)
    if not np.isfinite(ankles).all():
        return None
    heights = ankles @ ground.normal  # along "up" from the camera: the floor is at ground.normal @ ground.point
    a = int(np.argmin(heights))
    if conf is not None and not conf[ANKLES[a]] >= 0.3:
        return None
    rise = ANKLE_HEIGHT_MM + ground.normal @ ground.point  # the ankle's height above the camera (negative)
    if heights[a] >= 0 or rise >= 0:  # the ankle is level with or above the camera: its ray never meets the floor
        return None
    scale = rise / heights[a]
    ray = ankles[a] / ankles[a, 2]  # (3,) K^-1 [u, v, 1] of the ankle
    d_pixel = np.linalg.norm(ground.normal @ np.linalg.inv(K)[:, :2])  # d(normal . ray) per pixel
    sd = scale * np.hypot(ANKLE_PIXEL_SD * d_pixel / abs(ground.normal @ ray), ANKLE_HEIGHT_SD_MM / abs(rise))
    return float(scale), float(sd)


def combined_scale(floor: tuple[float, float] | None, skeleton_sd: float = SKELETON_SCALE_SD) -> float:
    """The inverse-variance mean of the skeleton's own scale (1, sd ``skeleton_sd``) and the floor's."""
    if floor is None:
        return 1.0
    scale, sd = floor
    w_skeleton, w_floor = skeleton_sd ** -2, sd ** -2
    return (w_skeleton + w_floor * scale) / (w_skeleton + w_floor)


@dataclass(frozen=True, eq=False)
class RootEstimate:
    """One frame's root: ``position`` (3,) mm in the camera frame, ``speed`` mm/s and ``height`` mm above the
    floor, each None when unknown; ``ground`` says whether the camera knows the floor (the line has ``height``)."""

    position: np.ndarray | None = None
    speed: float | None = None
    height: float | None = None
    ground: bool = False


class RootTracker:
    """Per-frame root position, smoothed, with speed and height above the floor (see the module docstring).

    Any frame without a solved root (not detected, too few joints) resets the filters and the speed.

    Args:
        camera: the intrinsics of the source pixels and, optionally, the floor.
        smooth: One-Euro filter the position (mm) and, separately, the trajectory the speed is taken from.
        min_cutoff, beta: the position filter's (see :class:`tvstream.smoothing.OneEuroFilter`): a root's depth is
            far noisier than a joint's position, hence the lower cutoff and speed gain than the joints'.
        speed_cutoff: the cutoff (Hz, no speed gain) of the trajectory the speed is the finite difference of: depth
            noise at 25 fps is a large apparent speed, which the position filter's speed gain would follow.
        use_floor: with a floor, also scale the skeleton by :func:`combined_scale` (its ankle on the floor).
        skeleton_sd: how far the skeleton's own scale is trusted against the floor's (relative sd):
            :data:`KNOWN_STATURE_SCALE_SD` for a skeleton scaled to a known height (:mod:`tvstream.stature`).

    The defaults were chosen on other clips than the reported ones (``benchmarks/root_position.py --seed 1``, in
    ``benchmarks/results/root_position_tuning.md``): 0.5 Hz / 0.0005 kept the position error of no filter (within
    0.5% of the distance), and a 0.5 Hz, beta 0 trajectory gave speeds 224-654 mm/s off (median) where 1 Hz gave
    287-1737 and no filter 932-10856.
    """

    def __init__(self, camera: SceneCamera, smooth: bool = True, min_cutoff: float = 0.5, beta: float = 0.0005,
                 speed_cutoff: float = 0.5, use_floor: bool = True, skeleton_sd: float = SKELETON_SCALE_SD) -> None:
        self.camera, self.use_floor, self.skeleton_sd = camera, use_floor, skeleton_sd
        self.filter = OneEuroFilter(min_cutoff=min_cutoff, beta=beta) if smooth else None
        self.speed_filter = OneEuroFilter(min_cutoff=speed_cutoff, beta=0.0) if smooth else None
        self._last: tuple[np.ndarray, float] | None = None

    def reset(self) -> None:
        for f in (self.filter, self.speed_filter):
            if f is not None:
                f.reset()
        self._last = None

    def __call__(self, pose3d: np.ndarray, pose2d: np.ndarray, conf: np.ndarray | None, t: float,
                 detected: bool) -> RootEstimate:
        """The root of one frame: ``pose3d (J, 3)`` mm, ``pose2d (J, 2)`` source pixels, ``conf (J,)`` or None,
        at ``t`` seconds."""
        ground = self.camera.ground
        T = solve_root(pose3d, pose2d, self.camera.K, conf) if detected else None
        if T is None:
            self.reset()
            return RootEstimate(ground=ground is not None)
        if ground is not None and self.use_floor:
            T = T * combined_scale(floor_scale(pose3d + T, self.camera.K, ground, conf), self.skeleton_sd)
        path = T if self.speed_filter is None else self.speed_filter(T, t)
        if self.filter is not None:
            T = self.filter(T, t)
        speed = None
        if self._last is not None and t > self._last[1]:
            speed = float(np.linalg.norm(path - self._last[0]) / (t - self._last[1]))
        self._last = (path, t)
        height = None if ground is None else float(ground.height(T))
        return RootEstimate(position=T, speed=speed, height=height, ground=ground is not None)
