"""A venue's footage: which clips can be read, whether their camera moves, and background plates of the venue.

Plates are what the synthetic athletes are rendered over (``train/synth/plates.py`` reads them), so the
renders show this venue's own floor, walls, water or snow. A fixed camera's plate is the per-pixel median
of frames spread through the clip (the athlete moves, the venue does not); a moving camera's is the local
panorama of a short window, registered frame to frame (``train/background/panorama.py``), at a few
points of the clip.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.background.median import median_of_frames, spread_indices
from train.data.video_reader import FrameReader, probe_video
from tvstream.errors import TvstreamError
from tvstream.manifest import discover

log = logging.getLogger(__name__)

MOVING_SHIFT = 0.01  # a camera whose frames shift by more than 1% of the width between samples is moving
PLATE_WIDTH = 640  # plates keep the clip's aspect (the renderer scales them to its frame)
WINDOW = 48  # frames of a moving camera's panorama window


@dataclass(frozen=True)
class Clip:
    """One readable clip of the venue."""

    path: Path
    labels: Path | None  # a label file for it, when the venue has them (a synthetic venue: the oracle teacher)
    frames: int
    fps: float
    width: int
    height: int

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def plate_size(self) -> tuple[int, int]:
        """(H, W) of this clip's plates: ``PLATE_WIDTH`` wide, the clip's aspect, even."""
        return 2 * max(8, round(PLATE_WIDTH * self.height / self.width / 2)), PLATE_WIDTH

    def split(self, holdout: float) -> int:
        """The first frame of the held-out tail (the last ``holdout`` share of the clip)."""
        return int(round(self.frames * (1.0 - holdout)))


def find_clips(venue: Path, exclude: Path | None = None) -> tuple[list[Clip], dict[str, str]]:
    """Readable clips under ``venue`` (a folder of clips, or a dataset with a manifest) and, for the others,
    why not (``{path: reason}``). Clips under ``exclude`` (the work folder, when it lies inside the venue's:
    its renders are not footage) are left out."""
    if not venue.is_dir():
        raise TvstreamError(f"{venue}: no such folder of venue footage")
    entries = discover(venue)
    clips, skipped = [], {}
    names: set[str] = set()
    skip_under = exclude.absolute() if exclude is not None else None
    for entry in entries:
        path = Path(entry.video)
        if skip_under is not None and path.absolute().is_relative_to(skip_under):
            continue
        try:
            info = probe_video(path)
        except TvstreamError as exc:
            skipped[str(path)] = str(exc)
            continue
        if info.num_frames < 10:
            skipped[str(path)] = f"only {info.num_frames} frames"
            continue
        if path.stem in names:
            skipped[str(path)] = f"another clip is also named {path.stem!r}"
            continue
        names.add(path.stem)
        clips.append(Clip(path=path.resolve(), labels=Path(entry.labels) if entry.labels else None, frames=info.num_frames, fps=info.fps or 25.0, width=info.width,
                          height=info.height))
    return clips, skipped


def camera_moves(frames: np.ndarray) -> bool:
    """Whether consecutive ``frames (N, H, W, 3)`` (spread through a clip) are shifted views: the median
    phase-correlation shift between neighbours over ``MOVING_SHIFT`` of the width."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    window = cv2.createHanningWindow(grey[0].shape[::-1], cv2.CV_32F)
    shifts = [np.hypot(*cv2.phaseCorrelate(a, b, window)[0]) for a, b in zip(grey, grey[1:])]
    return bool(np.median(shifts) > MOVING_SHIFT * frames.shape[2]) if shifts else False


def median_without_people(frames: np.ndarray, boxes: list[np.ndarray | None], grow: float = 0.15) -> np.ndarray:
    """Per-pixel median of ``frames (N, H, W, 3)`` leaving out each frame's person (``boxes[i]``: ``[x0, y0,
    x1, y1]`` in the frames' pixels, grown by ``grow`` of its size; None: nobody there). Pixels covered in
    every frame (an athlete who hardly moves) are inpainted from around them."""
    import cv2

    n, h, w, _ = frames.shape
    masked = frames.astype(np.float32)
    for i, box in enumerate(boxes):
        if box is None:
            continue
        bw, bh = box[2] - box[0], box[3] - box[1]
        x0, y0 = int(max(0, box[0] - grow * bw)), int(max(0, box[1] - grow * bh))
        x1, y1 = int(min(w, np.ceil(box[2] + grow * bw))), int(min(h, np.ceil(box[3] + grow * bh)))
        masked[i, y0:y1, x0:x1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: filled below
        median = np.nanmedian(masked, axis=0)  # (H, W, 3)
    hole = np.isnan(median).any(-1)
    plate = np.round(np.nan_to_num(median)).astype(np.uint8)
    if hole.any():
        plate = cv2.inpaint(plate, hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
    return plate


def synth_size(clips: list[Clip]) -> tuple[int, int]:
    """(W, H) to render the venue's synthetic athletes at: 640x360, or 360x640 where most of the footage is
    portrait (the plates keep the clips' aspect; a landscape render would stretch them, and the runtime keeps a
    portrait frame's aspect)."""
    portrait = sum(c.frames for c in clips if c.height > c.width)
    return (360, 640) if portrait > sum(c.frames for c in clips) / 2 else (640, 360)


def venue_plates(clip: Clip, count: int, camera: str = "auto",
                 people: dict[int, np.ndarray | None] | None = None) -> tuple[list[np.ndarray], bool]:
    """``count`` plates (H, W, 3) uint8 of ``clip`` at its ``plate_size``, and whether its camera moves.

    ``people``: frame index -> the person's box in source pixels (None: nobody), e.g. the teacher's; a fixed
    camera's median is then taken over those frames with the person left out (:func:`median_without_people`),
    so an athlete who stays in one place does not stay in the plate.
    """
    from train.background.panorama import panorama_from_frames

    info = probe_video(clip.path)
    h, w = clip.plate_size
    with FrameReader(info, clip.plate_size) as reader:
        known = sorted(f for f in (people or {}) if 0 <= f < info.num_frames)
        indices = (np.asarray(known)[spread_indices(len(known), 60)] if known
                   else spread_indices(info.num_frames, 60))
        spread = reader.read_many(indices)  # (N, H, W, 3)
        moving = camera_moves(spread[:, ::4, ::4]) if camera == "auto" else camera == "moving"
        if not moving:
            if not known:
                return [median_of_frames(spread)], False
            scale = np.array([w / info.width, h / info.height] * 2)
            boxes = [None if people[int(f)] is None else np.asarray(people[int(f)]) * scale for f in indices]
            return [median_without_people(spread, boxes)], False
        plates = []
        starts = np.linspace(0, max(0, info.num_frames - WINDOW), count).astype(int)
        for start in starts:
            window = reader.read_many(np.arange(start, min(start + WINDOW, info.num_frames)))
            try:
                plates.append(panorama_from_frames(window)[len(window) // 2])
            except ValueError as exc:  # too little texture to register: the window's median is the best left
                log.warning("%s: panorama at frame %d failed (%s); using the window's median", clip.path, start, exc)
                plates.append(median_of_frames(window))
    return plates, True
