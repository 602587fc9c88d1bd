"""Panning/zooming camera (ski): per-frame backgrounds from a registered median of neighbouring frames (paper S.1).

The paper builds one median panorama of the whole video. A camera that follows a skier turns through
more than its own field of view, and one plane cannot hold such a sweep: mapped into one frame's view, a
frame 80 steps later is a wildly projective warp (on the synthetic ski venue, corner displacements
of thousands of pixels, the *true* geometry, not drift). So each frame gets its own local panorama:

1. **Registration**: each frame is linked to the previous registered one by a homography fitted with
   RANSAC to corners tracked by pyramidal Lucas–Kanade optical flow with a forward–backward check. Where
   that homography strays more than ``max_perspective_px`` from the similarity fit of the same corners
   (rotation, zoom, shift: what one frame's turn of a narrow-field camera mostly is), the similarity is
   kept: with few corners, the perspective terms fit noise. Tracked corners work on snow, poles and tree
   lines where descriptor matching (ORB, the first version here) found too few correct matches. Links
   compose into a transform from every frame to the first one of its segment; only products over a window
   of neighbours are ever used, so the far-projective ones never matter. A frame that does not link to the
   last registered one (a cut, a flash) starts a new segment where it has corners to track from, else it
   is dropped; backgrounds are built from frames of the same segment only, so a new shot never gets the
   old shot's scene (before, every frame after a cut was dropped and took the last frame's background).
   On the synthetic ski venue (true homographies from the rendering camera), frames 1 / 10 / 20 apart
   register to within ~0.8 / 2.5 / 5 pixels at 320 wide; similarity steps alone drift to ~30 at 20 frames
   (they leave out the perspective of the turn).
2. **Local median**: frame ``t``'s background is the per-pixel median of up to ``max_median_frames``
   registered frames spread over ``t ± window`` frames, warped into ``t``'s view. The camera follows the
   athlete, so in ``t``'s view the athlete of another frame sits elsewhere (the background moved under
   them) and the median drops them. Pixels no other frame saw keep the frame itself.

Registration runs at a moderate size (``register_long_side``) whatever the training size: optical flow
needs some pixels per feature, and a 1080p frame costs more than it helps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from train.data.video_reader import decode_frames, probe_video
from tvstream.errors import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanoramaConfig:
    """How frames are registered and which neighbours a frame's background is the median of."""

    register_long_side: int = 320  # registration frames are scaled (up or down) to this long side
    max_corners: int = 400  # corners tracked from each frame into the next
    corner_quality: float = 0.001  # relative to the strongest corner (low: snow's faint texture counts)
    flow_window: int = 21  # Lucas-Kanade window, registration pixels
    flow_levels: int = 4  # pyramid levels: motion up to ~2**levels * window / 2 pixels per frame
    max_round_trip_px: float = 0.5  # a corner tracked forward then back must land this close to its start
    ransac_px: float = 1.0  # inlier threshold, in registration pixels
    min_inliers: int = 15  # fewer inliers: the frame does not link (it starts a new segment, or is dropped)
    max_step_scale: float = 1.5  # a step that zooms more than this is a bad fit, not a camera
    # each step is a homography where it stays within this many pixels (at the frame corners) of the similarity
    # fit, else the similarity; 0: similarities only. Chained over a second of a wide pan, the perspective a
    # similarity leaves out reaches tens of pixels; a single step's, a fraction of one.
    max_perspective_px: float = 4.0
    window: int = 20  # frames on each side a background is built from
    max_median_frames: int = 12  # frames in each median, spread over the window


# ---------------------------------------------------------------- registration


def _scaling(src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """3x3 map from pixel coordinates at ``src = (H, W)`` to ``dst = (H, W)`` (pixel centres aligned)."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])


def _step_is_plausible(step: np.ndarray, max_scale: float) -> bool:
    """A frame-to-frame transform keeps orientation and zooms by less than ``max_scale``."""
    det = np.linalg.det(step[:2, :2] / step[2, 2])
    return bool(1 / max_scale**2 < det < max_scale**2)


def _corner_gap(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance between where ``a`` and ``b`` (3x3) put the corners of a frame of ``size = (h, w)``."""
    h, w = size
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [w - 1, h - 1, 1], [0, h - 1, 1]], dtype=np.float64)
    pa, pb = corners @ a.T, corners @ b.T
    return float(np.linalg.norm(pa[:, :2] / pa[:, 2:] - pb[:, :2] / pb[:, 2:], axis=1).max())


def track_step(gray_prev: np.ndarray, gray_now: np.ndarray, cfg: PanoramaConfig,
               guess: np.ndarray | None = None) -> tuple[np.ndarray | None, int]:
    """Similarity ``(3, 3)`` from the current frame's pixels to the previous frame's, and its inlier count.

    ``guess``: an expected transform (the last step), which starts the flow where the corners should be.
    None (and the inliers found) when the frames do not register.
    """
    corners = cv2.goodFeaturesToTrack(gray_prev, cfg.max_corners, cfg.corner_quality, 5, blockSize=7)
    if corners is None or len(corners) < cfg.min_inliers:
        return None, 0 if corners is None else len(corners)
    flow = {"winSize": (cfg.flow_window, cfg.flow_window), "maxLevel": cfg.flow_levels}
    start, flags = None, 0
    if guess is not None:  # where each corner of the previous frame should be in the current one
        moved = np.concatenate([corners[:, 0], np.ones((len(corners), 1))], 1) @ np.linalg.inv(guess).T
        start = np.ascontiguousarray((moved[:, :2] / moved[:, 2:])[:, None], dtype=np.float32)
        flags = cv2.OPTFLOW_USE_INITIAL_FLOW
    ahead, found, _ = cv2.calcOpticalFlowPyrLK(gray_prev, gray_now, corners, start, flags=flags, **flow)
    back, found_back, _ = cv2.calcOpticalFlowPyrLK(gray_now, gray_prev, ahead, corners.copy(),
                                                   flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **flow)
    keep = (found[:, 0] == 1) & (found_back[:, 0] == 1)
    keep &= np.linalg.norm(back - corners, axis=2)[:, 0] < cfg.max_round_trip_px
    if keep.sum() < cfg.min_inliers:
        return None, int(keep.sum())
    fit, inliers = cv2.estimateAffinePartial2D(ahead[keep], corners[keep], method=cv2.RANSAC,
                                               ransacReprojThreshold=cfg.ransac_px, maxIters=2000, confidence=0.999)
    if fit is None:
        return None, 0
    step = np.vstack([fit, [0, 0, 1]])
    if cfg.max_perspective_px > 0:
        full, full_inliers = cv2.findHomography(ahead[keep], corners[keep], cv2.RANSAC, cfg.ransac_px,
                                                maxIters=2000, confidence=0.999)
        # one frame's turn barely bends the view: a homography far from the similarity fits noise
        if full is not None and _corner_gap(full / full[2, 2], step, gray_now.shape) < cfg.max_perspective_px:
            step, inliers = full / full[2, 2], full_inliers
    if not _step_is_plausible(step, cfg.max_step_scale):
        return None, 0
    return step, int(inliers.sum())


@dataclass(frozen=True)
class Registration:
    """Where each frame lies relative to the first registered one, in registration pixels."""

    transforms: np.ndarray  # (T, 3, 3) frame t -> its segment's first frame, up to scale (identity: dropped)
    ok: np.ndarray  # (T,) bool, False for dropped frames
    size: tuple[int, int]  # (h, w) of the registration frames
    segment: np.ndarray  # (T,) int, the chain each frame belongs to (0, 1, ... in order; -1 for dropped frames)


def register_chain(frames: Iterable[np.ndarray], cfg: PanoramaConfig = PanoramaConfig()) -> Registration:
    """Link each frame (``(h, w, 3)`` uint8 RGB) to the last registered one. A frame that does not link
    starts a new segment if it has enough corners for the next frame to track from (a cut); else it is
    dropped, with a warning (a blank or flash frame), and the next frame links past it."""
    cv2.setRNGSeed(0)  # RANSAC samples with OpenCV's generator: the same video gives the same backgrounds
    transforms, segment, size = [], [], (0, 0)  # segment -1: dropped
    last = None  # (grey image, transform to the segment's first frame, last step)
    current = -1  # the segment being chained
    for t, frame in enumerate(frames):
        size = frame.shape[:2]
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        if last is not None:
            step, inliers = track_step(last[0], gray, cfg, last[2])
            if step is not None and inliers >= cfg.min_inliers:
                chained = last[1] @ step
                last = (gray, chained / np.linalg.norm(chained), step)  # a homography's scale is free: bound it
                transforms.append(last[1])
                segment.append(current)
                continue
        corners = cv2.goodFeaturesToTrack(gray, cfg.min_inliers, cfg.corner_quality, 5)
        if corners is None or len(corners) < cfg.min_inliers:
            log.warning("panorama: frame %d dropped, it has %d corners to track (< %d)",
                        t, 0 if corners is None else len(corners), cfg.min_inliers)
            transforms.append(np.eye(3))
            segment.append(-1)
            continue
        if last is not None:
            log.warning("panorama: frame %d does not link to the last registered frame (%d inliers < %d); "
                        "a new segment starts there (a cut?)", t, inliers, cfg.min_inliers)
        current += 1  # a segment starts here
        last = (gray, np.eye(3), None)
        transforms.append(np.eye(3))
        segment.append(current)
    segment = np.asarray(segment, dtype=np.int64)
    return Registration(np.asarray(transforms).reshape(-1, 3, 3), segment >= 0, size, segment)


# ---------------------------------------------------------------- local median


def _masked_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values (N, h, w, 3)`` uint8 where ``valid (N, h, w)``; 0 where none is valid."""
    stacked = np.where(valid[..., None], values, np.uint16(256)).astype(np.uint16)  # invalid sorts last
    stacked.sort(axis=0)
    count = valid.sum(0)[None, ..., None]  # (1, h, w, 1)
    low = np.take_along_axis(stacked, (np.maximum(count, 1) - 1) // 2, axis=0)[0]  # (h, w, 3)
    high = np.take_along_axis(stacked, count // 2, axis=0)[0]
    median = (low.astype(np.uint32) + high + 1) // 2
    return np.where(count[0] > 0, median, 0).astype(np.uint8)


def _warp_into(image: np.ndarray, transform: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` seen from a view where ``transform`` maps the view's pixels to ``image``'s pixels."""
    return cv2.warpPerspective(image, transform, (size[1], size[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT)


def neighbours(t: int, good: np.ndarray, cfg: PanoramaConfig) -> np.ndarray:
    """Registered frames (indices into the video) whose median is frame ``t``'s background: up to
    ``cfg.max_median_frames`` of the good frames within ``t ± cfg.window``, spread evenly."""
    near = good[np.abs(good - t) <= cfg.window]
    if len(near) <= cfg.max_median_frames:
        return near
    return near[np.unique(np.round(np.linspace(0, len(near) - 1, cfg.max_median_frames)).astype(np.int64))]


def local_background(frames: np.ndarray, t: int, sources: np.ndarray, to_first: np.ndarray) -> np.ndarray:
    """Median of ``frames[sources]`` warped into frame ``t``'s view (``to_first``: (T, 3, 3) frame -> first
    registered frame, at the frames' size); the frame itself where no source sees a pixel."""
    size = frames.shape[1:3]
    full = np.full(size, 255, np.uint8)
    maps = [np.linalg.inv(to_first[s]) @ to_first[t] for s in sources]  # frame t's pixels -> source's pixels
    values = np.stack([_warp_into(frames[s], m, size) for s, m in zip(sources, maps)])  # (N, H, W, 3)
    # Only pixels fully inside a source count: the warp's edge pixels blend in the black border.
    valid = np.stack([_warp_into(full, m, size) == 255 for m in maps])  # (N, H, W)
    background = _masked_median(values, valid)
    return np.where(valid.any(0)[..., None], background, frames[t])


# ---------------------------------------------------------------- per-frame backgrounds


def _register_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(size)
    return max(8, round(size[0] * scale)), max(8, round(size[1] * scale))


def _resized(frames: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    for frame in frames:
        shrink = size[0] < frame.shape[0]
        yield cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def panorama_from_frames(frames: np.ndarray, register_frames: Iterable[np.ndarray] | None = None,
                         cfg: PanoramaConfig = PanoramaConfig(), out: np.ndarray | None = None) -> np.ndarray:
    """Per-frame backgrounds ``(T, H, W, 3)`` uint8 of a panning sequence ``frames (T, H, W, 3)``.

    Args:
        register_frames: the same T frames at any size to register on (e.g. decoded from the source at
            a moderate size); default: ``frames`` rescaled to ``cfg.register_long_side``.
        out: array ``(T, H, W, 3)`` uint8 to write into (e.g. a memmap), allocated when None.

    Backgrounds come from the frame's own segment (``register_chain``). A dropped frame (it had nothing to
    track) gets the background of its nearest registered neighbour: the camera moves little in a frame or two.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got shape {frames.shape}")
    size = frames.shape[1:3]
    if register_frames is None:
        register_frames = _resized(frames, _register_size(size, cfg.register_long_side))
    reg = register_chain(register_frames, cfg)
    if len(reg.ok) != len(frames):
        raise SourceError(f"panorama: {len(reg.ok)} registration frames for {len(frames)} frames")
    good = np.flatnonzero(reg.ok)
    if len(good) == 0:
        raise ValueError("panorama: no frame could be registered (blank video, or too little texture to track)")
    if len(good) < len(frames):
        log.warning("panorama: %d of %d frames dropped; they use their nearest registered neighbour's background",
                    len(frames) - len(good), len(frames))
    scale = _scaling(reg.size, size)  # registration pixels -> training pixels
    to_first = scale @ reg.transforms @ np.linalg.inv(scale)  # (T, 3, 3) at training size
    out = np.empty(frames.shape, np.uint8) if out is None else out
    for t in good:
        same = good[reg.segment[good] == reg.segment[t]]
        out[t] = local_background(frames, t, neighbours(t, same, cfg), to_first)
    for t in np.flatnonzero(~reg.ok):
        out[t] = out[good[np.abs(good - t).argmin()]]
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
