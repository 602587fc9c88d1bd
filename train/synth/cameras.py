"""Pinhole cameras of the synthetic world: intrinsics, extrinsics, look-at rigs and projection.

World frame: metres, z up, the ground at z = 0. Camera frame (as in the labels): x right, y down,
z forward (OpenCV). ``X_cam = R @ X_world + t``; labels store ``t`` in millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORLD_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """One camera at one instant: ``K`` (3, 3) in pixels, ``R`` (3, 3), ``t`` (3,) in metres, image size."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def roll_deg(self) -> float:
        """Rotation of the image about the optical axis: the angle of world up from image up, degrees."""
        return float(np.degrees(np.arctan2(-self.R[0, 2], -self.R[1, 2])))

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view in degrees."""
        return float(np.degrees(2 * np.arctan(self.height / 2 / self.K[1, 1])))

    @property
    def center(self) -> np.ndarray:
        """Camera position in world metres."""
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in metres -> camera-frame points (..., 3) in metres."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixels (..., 2) (u right, v down; pixel centres at integers)."""
        cam = self.to_camera(points)
        uvw = cam @ self.K.T  # (..., 3)
        return uvw[..., :2] / uvw[..., 2:3]

    def gl_projection(self, near: float = 0.05, far: float = 200.0) -> np.ndarray:
        """4x4 matrix from camera-frame points to GL clip space that reproduces :meth:`project`.

        NDC y grows with image v, so the framebuffer's first row (GL's bottom) is the image's top row
        and ``fbo.read()`` needs no flip. GL pixel centres sit at +0.5, hence ``c + 0.5``.
        """
        fx, fy = self.K[0, 0], self.K[1, 1]
        cx, cy = self.K[0, 2] + 0.5, self.K[1, 2] + 0.5
        w, h = self.width, self.height
        return np.array([
            [2 * fx / w, 0, 2 * cx / w - 1, 0],
            [0, 2 * fy / h, 2 * cy / h - 1, 0],
            [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
            [0, 0, 1, 0],
        ], dtype=np.float64)

    def view_matrix(self) -> np.ndarray:
        """4x4 world -> camera-frame transform."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.R, self.t
        return m


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """``K`` of a centred pinhole with square pixels and horizontal field of view ``hfov_deg``."""
    if not 1.0 < hfov_deg < 179.0:
        raise ValueError(f"hfov_deg must be in (1, 179), got {hfov_deg}")
    f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float64)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = WORLD_UP,
            roll_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` of a camera at ``eye`` looking at ``target`` with ``up`` pointing up in the image, then
    turned by ``roll_deg`` about its optical axis (positive: world up leans to the image's left)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = target - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("eye and target coincide")
    forward /= norm
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("viewing direction is parallel to up")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    if roll_deg:
        c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
        R = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]) @ R
    return R, -R @ eye


def vfov_to_hfov(width: int, height: int, vfov_deg: float) -> float:
    """Horizontal field of view (degrees) of a ``width x height`` image with vertical field of view ``vfov_deg``."""
    return float(2 * np.degrees(np.arctan(np.tan(np.radians(vfov_deg) / 2) * width / height)))


def make_camera(width: int, height: int, hfov_deg: float, eye, target, roll_deg: float = 0.0) -> Camera:
    """A camera of the given size and field of view at ``eye`` looking at ``target``, rolled by ``roll_deg``."""
    R, t = look_at(np.asarray(eye, float), np.asarray(target, float), roll_deg=roll_deg)
    return Camera(K=intrinsics(width, height, hfov_deg), R=R, t=t, width=width, height=height)


def ring_of_cameras(width: int, height: int, count: int, radius: float, height_m: float,
                    target: np.ndarray, hfov_deg: float, start_deg: float = 0.0) -> list[Camera]:
    """``count`` cameras evenly around ``target`` (a studio rig, like Human3.6M's four corners)."""
    cams = []
    for i in range(count):
        a = np.radians(start_deg + 360.0 * i / count)
        eye = np.asarray(target, float) + np.array([radius * np.cos(a), radius * np.sin(a), 0.0])
        eye[2] = height_m
        cams.append(make_camera(width, height, hfov_deg, eye, target))
    return cams


# ------------------------------------------------------------------------------------ varied framing


@dataclass(frozen=True)
class VariedRig:
    """Ranges of the one-camera-per-take rig that frames the athlete every way real footage does."""

    vfov_deg: tuple[float, float] = (20.0, 90.0)  # telephoto to wide angle
    fill: tuple[float, float] = (0.10, 0.95)  # athlete height / frame height at the start of the take
    elevation_deg: tuple[float, float] = (-15.0, 60.0)  # from a low angle looking up to high above
    min_eye_height: float = 0.2  # metres above the ground
    roll_std_deg: float = 2.5  # a handheld camera is rarely level
    strong_roll: float = 0.15  # share of takes with a deliberate tilt ...
    strong_roll_deg: float = 15.0  # ... of up to this much
    cut: float = 0.15  # share of takes framed so that a frame edge cuts the athlete
    cut_share: tuple[float, float] = (0.15, 0.5)  # how much of the athlete lies beyond that edge
    zoom: float = 0.4  # |log| of the field of view's change over a take
    follow: tuple[float, float] = (0.04, 0.3)  # per-frame gain of the operator's pan towards the athlete
    extra_size: float = 0.2  # metres the body extends beyond its joints (head top, soles)


def _follow(path: np.ndarray, gain: float) -> np.ndarray:
    """First-order lag of ``path (T, 3)``: where an operator who pans after the athlete points."""
    out = path.copy()
    for t in range(1, len(path)):
        out[t] = out[t - 1] + gain * (path[t] - out[t - 1])
    return out


def _framing_offset(rig: VariedRig, size: float, half_h: float, half_w: float,
                    rng: np.random.Generator) -> tuple[float, float]:
    """Where the athlete's centre sits from the image centre, in metres at its distance: ``(right, up)``."""
    if rng.random() < rig.cut:  # the athlete's centre lies so that ``q`` of its extent is past one edge
        q = rng.uniform(*rig.cut_share)
        sign = rng.choice([-1.0, 1.0])
        if rng.random() < 0.5:
            return 0.0, sign * (half_h - size / 2 + q * size)
        width = 0.4 * size
        return sign * (half_w - width / 2 + q * width), 0.0
    return (rng.uniform(-0.5, 0.5) * max(half_w - 0.2 * size, 0.0),
            rng.uniform(-0.5, 0.5) * max(half_h - size / 2, 0.0))


def varied_cameras(rig: VariedRig, width: int, height: int, joints: np.ndarray,
                   rng: np.random.Generator) -> list[Camera]:
    """One camera per frame of a take that follows ``joints (T, 17, 3)`` (world metres, ground at z = 0).

    Drawn once per take: field of view, framing (athlete height over frame height), viewing direction and
    height, roll, the operator's pan lag and a zoom over the take.
    """
    frames = len(joints)
    lo, hi = joints.min(axis=1), joints.max(axis=1)  # (T, 3)
    centre = (lo + hi) / 2  # (T, 3)
    size = float((hi - lo).max()) + rig.extra_size
    vfov0 = rng.uniform(*rig.vfov_deg)
    fill = rng.uniform(*rig.fill)
    dist = size / (2 * fill * np.tan(np.radians(vfov0) / 2))
    azimuth, elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(*rig.elevation_deg))
    heading = np.array([np.cos(azimuth), np.sin(azimuth), 0.0])
    mid = centre.mean(axis=0)
    # keep the camera out of the athlete's way: its ground distance to every frame's centre stays >= 60% of dist
    ground = dist * np.cos(elevation)
    for _ in range(60):
        eye_xy = mid[:2] + ground * heading[:2]
        if np.linalg.norm(centre[:, :2] - eye_xy, axis=1).min() >= max(0.6 * dist * np.cos(elevation), 0.8):
            break
        ground *= 1.1
    eye = np.array([*eye_xy, max(mid[2] + dist * np.sin(elevation), rig.min_eye_height)])
    half_h = dist * np.tan(np.radians(vfov0) / 2)
    right, up = np.cross(mid - eye, WORLD_UP), WORLD_UP
    right /= max(np.linalg.norm(right), 1e-9)
    off_right, off_up = _framing_offset(rig, size, half_h, half_h * width / height, rng)
    # the camera aims off the athlete by the offset, so the athlete sits off the image centre
    target = _follow(centre, rng.uniform(*rig.follow)) - off_right * right - off_up * up  # (T, 3)
    if rng.random() < rig.strong_roll:
        roll = rng.uniform(-rig.strong_roll_deg, rig.strong_roll_deg)
    else:
        roll = float(np.clip(rng.normal(0, rig.roll_std_deg), -3 * rig.roll_std_deg, 3 * rig.roll_std_deg))
    ramp = np.linspace(0, 1, frames)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: a zoom starts and ends gently
    vfov = np.clip(vfov0 * np.exp(rng.uniform(-rig.zoom, rig.zoom) * ramp), *rig.vfov_deg)  # (T,)
    return [make_camera(width, height, vfov_to_hfov(width, height, float(vfov[t])), eye, target[t], roll_deg=roll)
            for t in range(frames)]
