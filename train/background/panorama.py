"""Panning/zooming camera (ski): per-frame backgrounds from a median panorama (paper S.1, Fig. S5).

Consecutive frames are registered by a homography fitted with RANSAC to ORB matches (the paper uses
SIFT; ORB is free and fast), the homographies are chained to one reference frame, a per-pixel median
of frames spread through the video is taken on a canvas that holds every warped frame, and the
panorama is warped back into each frame's view. Registration runs at a moderate size
(``register_long_side``) whatever the training size: ORB's 31-pixel patches find too few features in a
128x128 frame, and a 1080p frame costs more than it helps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from train.background.median import spread_indices
from train.data.video_reader import decode_frames, probe_video
from tvstream.errors import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanoramaConfig:
    """How frames are registered and how big the panorama may grow."""

    register_long_side: int = 320  # registration frames are scaled (up or down) to this long side
    orb_features: int = 1000
    orb_levels: int = 8
    ecc_iterations: int = 20  # intensity refinement of each link; 0 keeps the feature fit alone
    keyframe_inliers: int = 150  # a frame sharing fewer inliers with the keyframe becomes the next keyframe
    match_ratio: float = 0.75  # Lowe's ratio test on the two nearest Hamming neighbours
    ransac_px: float = 2.0  # inlier threshold, in registration pixels
    min_inliers: int = 25  # fewer inliers: the frame is dropped from the chain
    max_step_scale: float = 1.5  # a consecutive step that zooms more than this is a bad fit, not a camera
    max_area_change: float = 8.0  # a frame whose chained footprint grew/shrank more than this has drifted
    max_median_frames: int = 48  # frames in the median, spread through the video
    max_canvas_pixels: int = 4_000_000  # a bigger panorama is built at a reduced scale
    strip_bytes: int = 64 << 20  # memory for the stacked warps of one canvas strip


# ---------------------------------------------------------------- registration


def _scaling(src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """3x3 map from pixel coordinates at ``src = (H, W)`` to ``dst = (H, W)`` (pixel centres aligned)."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])


def _step_is_plausible(step: np.ndarray, max_scale: float) -> bool:
    """A frame-to-frame homography keeps orientation and zooms by less than ``max_scale``."""
    det = np.linalg.det(step[:2, :2] / step[2, 2])
    return bool(1 / max_scale**2 < det < max_scale**2)


def _match(orb_now: tuple, orb_prev: tuple, matcher: cv2.DescriptorMatcher,
           cfg: PanoramaConfig) -> tuple[np.ndarray | None, int]:
    """Homography from the current frame to the previous one ``(3, 3)`` and its inlier count."""
    (kp_now, desc_now, gray_now), (kp_prev, desc_prev, gray_prev) = orb_now, orb_prev
    if desc_now is None or desc_prev is None or len(desc_now) < 2 or len(desc_prev) < 2:
        return None, 0
    pairs = matcher.knnMatch(desc_now, desc_prev, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < cfg.match_ratio * p[1].distance]
    if len(good) < cfg.min_inliers:
        return None, len(good)
    src = np.float32([kp_now[m.queryIdx].pt for m in good])  # (M, 2)
    dst = np.float32([kp_prev[m.trainIdx].pt for m in good])  # (M, 2)
    step, inliers = cv2.findHomography(src, dst, cv2.RANSAC, cfg.ransac_px)
    if step is None or not _step_is_plausible(step, cfg.max_step_scale):
        return None, 0
    if cfg.ecc_iterations > 0:
        step = _refine(step / step[2, 2], gray_now, gray_prev, cfg.ecc_iterations)
    return step / step[2, 2], int(inliers.sum())


def _refine(step: np.ndarray, gray_now: np.ndarray, gray_prev: np.ndarray, iterations: int) -> np.ndarray:
    """``step`` (now -> prev) refined by intensity alignment (ECC): ORB keypoints on coarse pyramid levels
    are off by a pixel or more, which chained over a video drifts visibly; ECC aligns to ~0.05 px."""
    warp = np.linalg.inv(step).astype(np.float32)  # ECC's warp maps the template (prev) into the input (now)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    try:
        _, warp = cv2.findTransformECC(gray_prev, gray_now, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 3)
    except cv2.error:  # did not converge (flat or changed content): the feature fit is still good
        return step
    refined = np.linalg.inv(warp.astype(np.float64))
    corners = _corners(gray_now.shape[:2])
    moved = corners @ refined.T / (corners @ refined.T)[:, 2:] - corners @ step.T / (corners @ step.T)[:, 2:]
    return refined if np.abs(moved).max() < 4 else step  # ECC may slide on repetitive texture


@dataclass(frozen=True)
class Registration:
    """Where each frame lies relative to the first registered one, in registration pixels."""

    homographies: np.ndarray  # (T, 3, 3) frame t -> first registered frame
    ok: np.ndarray  # (T,) bool, False for dropped frames (their homography is the identity)
    size: tuple[int, int]  # (h, w) of the registration frames


def register_chain(frames: Iterable[np.ndarray], cfg: PanoramaConfig = PanoramaConfig()) -> Registration:
    """Chain homographies through ``frames`` (each ``(h, w, 3)`` uint8 RGB) via keyframes.

    Each frame is matched to the current keyframe while they still share ``cfg.keyframe_inliers``
    inliers, else to the last good frame, which it then replaces as keyframe: fewer links in the chain
    drift less than one link per frame. A frame that registers to neither is dropped with a warning.
    """
    orb = cv2.ORB_create(nfeatures=cfg.orb_features, nlevels=cfg.orb_levels)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    homographies, ok, size = [], [], (0, 0)
    key = last = None  # (keypoints, descriptors, grey image, homography to the first registered frame)
    for t, frame in enumerate(frames):
        size = frame.shape[:2]
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        features = (*orb.detectAndCompute(gray, None), gray)
        to_first, inliers, via_key = _link(features, key, last, matcher, cfg)
        if to_first is None:
            log.warning("panorama: frame %d dropped, registration found %d inliers (< %d)",
                        t, inliers, cfg.min_inliers)
            homographies.append(np.eye(3))
            ok.append(False)
            continue
        last = (*features, to_first)
        if not via_key:
            key = last
        homographies.append(to_first)
        ok.append(True)
    return Registration(np.asarray(homographies).reshape(-1, 3, 3), np.asarray(ok, dtype=bool), size)


def _link(features: tuple, key: tuple | None, last: tuple | None, matcher: cv2.DescriptorMatcher,
          cfg: PanoramaConfig) -> tuple[np.ndarray | None, int, bool]:
    """Homography from a frame to the first registered frame (None if it fails), its inlier count and
    whether it was found through the keyframe."""
    if key is None:  # the first frame with features starts the chain
        found = len(features[0])
        return (np.eye(3) if found >= cfg.min_inliers else None), found, False
    step, inliers = _match(features, key[:3], matcher, cfg)
    if step is not None and inliers >= cfg.keyframe_inliers:
        return key[3] @ step, inliers, True
    if last is not key:
        step, inliers = _match(features, last[:3], matcher, cfg)
    if step is None or inliers < cfg.min_inliers:
        return None, inliers, False
    return last[3] @ step, inliers, False


# ---------------------------------------------------------------- canvas


def _corners(size: tuple[int, int], centres: bool = False) -> np.ndarray:
    """Homogeneous image corners ``(4, 3)``: outer pixel edges, or the corner pixels' centres."""
    h, w = size
    lo, hi_x, hi_y = (0, w - 1, h - 1) if centres else (-0.5, w - 0.5, h - 0.5)
    return np.array([[lo, lo, 1], [hi_x, lo, 1], [hi_x, hi_y, 1], [lo, hi_y, 1]], dtype=np.float64)


def _footprint_is_sane(homography: np.ndarray, size: tuple[int, int], max_area_change: float) -> bool:
    """The frame's warped outline stays in front of the camera and within ``max_area_change`` of its area."""
    warped = _corners(size) @ homography.T  # (4, 3)
    if np.any(warped[:, 2] <= 1e-6):
        return False
    xy = warped[:, :2] / warped[:, 2:]
    area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1)))
    return bool(1 / max_area_change < area / (size[0] * size[1]) < max_area_change)


def _canvas(homographies: np.ndarray, ok: np.ndarray, size: tuple[int, int],
            max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Map from reference coordinates to the canvas ``(3, 3)`` and the canvas size ``(Hc, Wc)``."""
    points = np.concatenate([_corners(size, centres=True) @ h.T for h in homographies[ok]])  # (4K, 3)
    xy = points[:, :2] / points[:, 2:]
    # Integer offsets: a pure camera translation then maps pixels onto pixels, without resampling blur.
    (x0, y0), (x1, y1) = np.floor(xy.min(0)), np.ceil(xy.max(0)) + 1
    scale = min(1.0, float(np.sqrt(max_pixels / ((x1 - x0) * (y1 - y0)))))
    if scale < 1:
        log.warning("panorama: canvas %dx%d is over %d pixels, building it at %.2fx", x1 - x0, y1 - y0,
                    max_pixels, scale)
    to_canvas = np.array([[scale, 0, -scale * x0], [0, scale, -scale * y0], [0, 0, 1]])
    return to_canvas, (max(1, int(np.ceil(scale * (y1 - y0)))), max(1, int(np.ceil(scale * (x1 - x0)))))


# ---------------------------------------------------------------- median panorama


def _masked_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values (N, h, w, 3)`` uint8 where ``valid (N, h, w)``; 0 where none is valid."""
    stacked = np.where(valid[..., None], values, np.uint16(256)).astype(np.uint16)  # invalid sorts last
    stacked.sort(axis=0)
    count = valid.sum(0)[None, ..., None]  # (1, h, w, 1)
    low = np.take_along_axis(stacked, (np.maximum(count, 1) - 1) // 2, axis=0)[0]  # (h, w, 3)
    high = np.take_along_axis(stacked, count // 2, axis=0)[0]
    median = (low.astype(np.uint32) + high + 1) // 2
    return np.where(count[0] > 0, median, 0).astype(np.uint8)


def _warp_into(image: np.ndarray, homography: np.ndarray, size: tuple[int, int], inverse: bool = False) -> np.ndarray:
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse else 0)
    return cv2.warpPerspective(image, homography, (size[1], size[0]), flags=flags, borderMode=cv2.BORDER_CONSTANT)


def median_panorama(frames: np.ndarray, to_canvas: np.ndarray, canvas: tuple[int, int],
                    cfg: PanoramaConfig = PanoramaConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of ``frames (N, H, W, 3)`` warped by ``to_canvas (N, 3, 3)`` onto a ``canvas = (Hc, Wc)``.

    Returns ``(panorama (Hc, Wc, 3) uint8, covered (Hc, Wc) bool)``. Built in strips of rows so memory
    stays within ``cfg.strip_bytes`` whatever the canvas size.
    """
    (hc, wc), n = canvas, len(frames)
    full = np.full(frames.shape[1:3], 255, np.uint8)
    rows = max(1, cfg.strip_bytes // (n * wc * 3 * 2))
    panorama, covered = np.zeros((hc, wc, 3), np.uint8), np.zeros((hc, wc), bool)
    for top in range(0, hc, rows):
        strip = (min(rows, hc - top), wc)
        shift = np.array([[1, 0, 0], [0, 1, -top], [0, 0, 1]]) @ to_canvas  # (N, 3, 3)
        values = np.stack([_warp_into(f, m, strip) for f, m in zip(frames, shift)])  # (N, h, Wc, 3)
        # Only pixels fully inside a frame count: the warp's edge pixels blend in the black border.
        valid = np.stack([_warp_into(full, m, strip) == 255 for m in shift])  # (N, h, Wc)
        panorama[top:top + strip[0]] = _masked_median(values, valid)
        covered[top:top + strip[0]] = valid.any(0)
    return panorama, covered


# ---------------------------------------------------------------- per-frame backgrounds


def _register_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(size)
    return max(8, round(size[0] * scale)), max(8, round(size[1] * scale))


def _resized(frames: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    for frame in frames:
        shrink = size[0] < frame.shape[0]
        yield cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_reference(reg: Registration, size: tuple[int, int], cfg: PanoramaConfig) -> tuple[np.ndarray, np.ndarray]:
    """Homographies from each frame to the middle good frame at training ``size``, ``(T, 3, 3)``, and ``ok (T,)``.

    The middle frame is the reference so chained drift is split between both ends of the video; frames
    whose chained footprint is implausible are dropped, and every dropped frame borrows the homography
    of the nearest good frame (the camera moves little in a frame or two).
    """
    good = np.flatnonzero(reg.ok)
    if len(good) == 0:
        raise ValueError("panorama: no frame could be registered (too little texture for ORB features?)")
    scale = _scaling(reg.size, size)  # registration pixels -> training pixels
    to_ref = scale @ np.linalg.inv(reg.homographies[good[len(good) // 2]]) @ reg.homographies @ np.linalg.inv(scale)
    ok = reg.ok.copy()
    for t in good:
        if not _footprint_is_sane(to_ref[t], size, cfg.max_area_change):
            log.warning("panorama: frame %d dropped, its chained homography drifted", t)
            ok[t] = False
    good = np.flatnonzero(ok)
    if len(good) < len(ok):
        log.warning("panorama: %d of %d frames dropped; they use their nearest registered neighbour",
                    len(ok) - len(good), len(ok))
    nearest = good[np.abs(np.arange(len(ok))[:, None] - good[None]).argmin(1)]  # (T,)
    return to_ref[nearest], ok


def panorama_from_frames(frames: np.ndarray, register_frames: Iterable[np.ndarray] | None = None,
                         cfg: PanoramaConfig = PanoramaConfig(), out: np.ndarray | None = None) -> np.ndarray:
    """Per-frame backgrounds ``(T, H, W, 3)`` uint8 of a panning sequence ``frames (T, H, W, 3)``.

    Args:
        register_frames: the same T frames at any size to register on (e.g. decoded from the source at
            a moderate size); default: ``frames`` rescaled to ``cfg.register_long_side``.
        out: array ``(T, H, W, 3)`` uint8 to write into (e.g. a memmap), allocated when None.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got shape {frames.shape}")
    size = frames.shape[1:3]
    if register_frames is None:
        register_frames = _resized(frames, _register_size(size, cfg.register_long_side))
    reg = register_chain(register_frames, cfg)
    if len(reg.ok) != len(frames):
        raise SourceError(f"panorama: {len(reg.ok)} registration frames for {len(frames)} frames")
    to_ref, ok = _to_reference(reg, size, cfg)
    to_canvas, canvas = _canvas(to_ref, ok, size, cfg.max_canvas_pixels)
    maps = to_canvas @ to_ref  # (T, 3, 3) frame -> canvas
    picked = np.flatnonzero(ok)[spread_indices(int(ok.sum()), cfg.max_median_frames)]
    panorama, covered = median_panorama(frames[picked], maps[picked], canvas, cfg)
    out = np.empty(frames.shape, np.uint8) if out is None else out
    covered = covered.astype(np.uint8) * 255
    for t in range(len(frames)):
        background = _warp_into(panorama, maps[t], size, inverse=True)  # (H, W, 3)
        # Where the panorama has no median (outside every picked frame), the frame itself is the best guess.
        inside = _warp_into(covered, maps[t], size, inverse=True) == 255  # (H, W)
        out[t] = np.where(inside[..., None], background, frames[t])
    return out


def panorama_background(video: str | os.PathLike, frames: np.ndarray, cfg: PanoramaConfig = PanoramaConfig(),
                        out: np.ndarray | None = None) -> np.ndarray:
    """Per-frame backgrounds ``(T, H, W, 3)`` of ``video`` whose decoded frames at training size are ``frames``.

    ``frames`` is typically the video's frame cache; registration frames are decoded again from the
    source at ``cfg.register_long_side``, so a small training size still registers on full detail.
    Raises SourceError when the video cannot be read or disagrees with ``frames``.
    """
    info = probe_video(video)
    register_size = _register_size((info.height, info.width), cfg.register_long_side)
    return panorama_from_frames(frames, decode_frames(video, register_size), cfg, out)
