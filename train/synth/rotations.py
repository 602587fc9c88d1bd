"""Rotation conversions in numpy (axis-angle, matrices, Euler angles) for motions and BVH files."""

from __future__ import annotations

import numpy as np


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about world axis ``'x'``, ``'y'`` or ``'z'`` by ``angle`` (radians)."""
    angle = np.asarray(angle, float)
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(angle), np.ones_like(angle)
    rows = {
        "x": [[i, o, o], [o, c, -s], [o, s, c]],
        "y": [[c, o, s], [o, i, o], [-s, o, c]],
        "z": [[c, -s, o], [s, c, o], [o, o, i]],
    }[axis.lower()]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: axis-angle ``(..., 3)`` -> rotation matrices ``(..., 3, 3)``."""
    rotvec = np.asarray(rotvec, float)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # (..., 1)
    k = rotvec / np.maximum(theta, 1e-12)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    o = np.zeros_like(kx)
    K = np.stack([np.stack([o, -kz, ky], -1), np.stack([kz, o, -kx], -1), np.stack([-ky, kx, o], -1)], -2)
    t = theta[..., None]
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * (K @ K)


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` (stable near 0 and pi)."""
    R = np.asarray(R, float)
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    theta = np.arccos(cos)
    axis = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.sin(theta)
    small = sin > 1e-6
    out = np.where(small[..., None], axis / (2 * np.where(small, sin, 1)[..., None]) * theta[..., None], axis / 2)
    # near pi the antisymmetric part vanishes: take the axis from the symmetric part instead
    near_pi = (~small) & (cos < 0)
    if np.any(near_pi):
        B = (R[near_pi] + np.eye(3)) / 2
        ax = np.sqrt(np.clip(np.diagonal(B, axis1=-2, axis2=-1), 0, None))
        # fix signs relative to the largest component
        big = np.argmax(ax, axis=-1)
        for n in range(len(ax)):
            j = big[n]
            ax[n] = B[n, j] / max(ax[n, j], 1e-12)
        out[near_pi] = ax / np.linalg.norm(ax, axis=-1, keepdims=True) * np.pi
    return out


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles in degrees ``(..., 3)`` applied in ``order`` (e.g. ``'ZXY'``, as BVH channels)."""
    angles = np.radians(np.asarray(angles_deg, float))
    R = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3)).copy()
    for i, axis in enumerate(order):
        R = R @ axis_rotation(axis, angles[..., i])
    return R


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation matrix turning direction ``a`` (3,) onto direction ``b`` (3,)."""
    a, b = np.asarray(a, float) / np.linalg.norm(a), np.asarray(b, float) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])  # any axis perpendicular to a
        return rotvec_to_matrix(perp / np.linalg.norm(perp) * np.pi)
    return rotvec_to_matrix(axis / s * np.arctan2(s, c))
