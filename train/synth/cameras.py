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


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = WORLD_UP) -> tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` of a camera at ``eye`` looking at ``target`` with ``up`` pointing up in the image."""
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
    return R, -R @ eye


def make_camera(width: int, height: int, hfov_deg: float, eye, target) -> Camera:
    """A camera of the given size and field of view at ``eye`` looking at ``target``."""
    R, t = look_at(np.asarray(eye, float), np.asarray(target, float))
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
