"""Drawing poses on frames (numpy only): skeleton bones, joints and boxes, for overlays and contact sheets."""

from __future__ import annotations

import numpy as np

from tvstream.skeleton import H36M_17, Skeleton

SIDE_COLORS = {"left": (40, 120, 255), "right": (255, 70, 50), "center": (250, 220, 40)}
FADE_CONF = 0.3  # joints less confident than this (and their bones) are drawn faded
FADE_ALPHA = 0.35  # how much of a faded joint's colour covers the frame


def _line(img: np.ndarray, p0: np.ndarray, p1: np.ndarray, color, thickness: int, alpha: float = 1.0) -> None:
    h, w = img.shape[:2]
    steps = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]), 1)) + 1
    pts = np.linspace(p0, p1, steps)  # (S, 2)
    r = thickness // 2
    xs, ys = [], []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            x = np.round(pts[:, 0]).astype(int) + dx
            y = np.round(pts[:, 1]).astype(int) + dy
            ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            if alpha >= 1:
                img[y[ok], x[ok]] = color
            else:
                xs.append(x[ok])
                ys.append(y[ok])
    if alpha < 1 and xs:
        flat = np.unique(np.concatenate(ys) * w + np.concatenate(xs))  # each pixel blended once
        y, x = np.divmod(flat, w)
        img[y, x] = np.round(alpha * np.asarray(color, np.float32) + (1 - alpha) * img[y, x]).astype(img.dtype)


def draw_skeleton(img: np.ndarray, joints2d: np.ndarray, visible: np.ndarray | None = None,
                  skeleton: Skeleton = H36M_17, thickness: int = 2, conf: np.ndarray | None = None) -> np.ndarray:
    """Draw bones of ``joints2d (K, 2)`` (pixels) on ``img (H, W, 3)`` uint8 in place; left blue, right red.

    ``conf (K,)``: per-joint confidence; joints below :data:`FADE_CONF`, and bones touching one, are faded.
    """
    if joints2d.shape != (skeleton.num_joints, 2):
        raise ValueError(f"joints2d must be ({skeleton.num_joints}, 2), got {joints2d.shape}")
    vis = np.ones(skeleton.num_joints, bool) if visible is None else np.asarray(visible, bool)
    if not np.isfinite(joints2d).all():
        vis = vis & np.isfinite(joints2d).all(axis=1)
    sure = np.ones(skeleton.num_joints, bool) if conf is None else np.asarray(conf) >= FADE_CONF  # NaN: faded
    for parent, child in skeleton.bones:
        if vis[parent] and vis[child]:
            alpha = 1.0 if sure[parent] and sure[child] else FADE_ALPHA
            _line(img, joints2d[parent], joints2d[child], SIDE_COLORS[skeleton.side(child)], thickness, alpha)
    for j in np.flatnonzero(vis):
        _line(img, joints2d[j], joints2d[j], (255, 255, 255), thickness + 1, 1.0 if sure[j] else FADE_ALPHA)
    return img


def draw_box(img: np.ndarray, box: np.ndarray, color=(0, 255, 0), thickness: int = 1) -> np.ndarray:
    """Draw ``box = [x0, y0, x1, y1]`` (pixels) on ``img`` in place."""
    x0, y0, x1, y1 = (float(v) for v in box)
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        _line(img, np.array(a), np.array(b), color, thickness)
    return img


def draw_pose3d_inset(img: np.ndarray, pose3d: np.ndarray, size: int = 0, yaw_deg: float = 30.0,
                      extent_mm: float = 1100.0, skeleton: Skeleton = H36M_17) -> np.ndarray:
    """Draw root-relative ``pose3d (K, 3)`` mm, turned by ``yaw_deg`` about the vertical, in a dark inset.

    The inset is a square in the top-right corner (``size`` pixels; 0: a quarter of the frame height),
    orthographic, ``extent_mm`` from the pelvis to its edge, so the depth the 2D overlay cannot show is seen.
    """
    h, w = img.shape[:2]
    size = min(size or h // 4, h, w)
    if size < 16 or not np.isfinite(pose3d).all():
        return img
    region = img[:size, w - size:]
    region[:] = region // 3  # darken
    a = np.deg2rad(yaw_deg)
    x = pose3d[:, 0] * np.cos(a) + pose3d[:, 2] * np.sin(a)  # camera x right / y down / z forward
    pts = np.stack([x, pose3d[:, 1]], axis=1) * (size / 2 / extent_mm) + size / 2  # (K, 2) inset pixels
    draw_skeleton(region, pts, skeleton=skeleton, thickness=1)
    return img
