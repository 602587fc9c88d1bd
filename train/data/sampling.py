"""Which frames a training sample holds: temporal tuples, gravity quadruples, synchronised views.

Pure functions of an owned ``numpy.random.Generator`` and the video length, so they are tested without
any video. Distances follow the paper (§3.1, supplementary S.1): a *near* frame within ``near`` frames
(positive), a *far* frame at least ``far`` frames away (negative, and ``dmax`` of the DSL loss), an
*intermediate* frame strictly between them, all on the same side of the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("temporal", "gravity", "multiview", "frame")


@dataclass(frozen=True)
class SamplingConfig:
    """How a :class:`~train.data.video_dataset.VideoDataset` item picks its frames.

    Paper near/far (frames): H36M 10/200, MPI 10/450, Ski 5/40, Diving 3/20.
    """

    mode: str = "temporal"
    near: int = 10  # positives at distance 1..near
    far: int = 200  # negatives at distance far..far_max; also the DSL's dmax
    far_max: int | None = None  # None: negatives exactly `far` away
    intermediate: bool = True  # add a frame between near and far (L_DSL_all, paper eq. 6)
    gravity_step: int = 2  # spacing of the four equidistant frames of the gravity loss
    views: int = 2  # synchronised cameras per multiview item
    stride: int = 1  # a reference every `stride` frames (the paper subsamples by 5 or 10)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.near < 1:
            raise ValueError(f"near must be >= 1, got {self.near}")
        min_far = self.near + (2 if self.intermediate else 1)  # room for an intermediate frame
        if self.far < min_far:
            raise ValueError(f"far must be >= {min_far} (near={self.near}), got {self.far}")
        if self.far_max is not None and self.far_max < self.far:
            raise ValueError(f"far_max must be >= far={self.far}, got {self.far_max}")
        if self.gravity_step < 1 or self.stride < 1:
            raise ValueError(f"gravity_step and stride must be >= 1, got {self.gravity_step}, {self.stride}")
        if self.views < 2 and self.mode == "multiview":
            raise ValueError(f"multiview needs views >= 2, got {self.views}")

    @property
    def dmax(self) -> int:
        """The DSL loss's maximum distance: where negatives start."""
        return self.far

    @property
    def frames_per_item(self) -> int:
        """How many frames one item of this mode holds (per camera for multiview: views + 1 far)."""
        return {"temporal": 4 if self.intermediate else 3, "gravity": 4,
                "multiview": self.views + 1, "frame": 1}[self.mode]

    def span(self) -> int:
        """Frames a video needs beyond the reference (its length must exceed this)."""
        return {"temporal": self.far, "gravity": 3 * self.gravity_step,
                "multiview": self.far, "frame": 0}[self.mode]


def reference_frames(length: int, cfg: SamplingConfig) -> np.ndarray:
    """Reference frame indices of a video of ``length`` frames usable in ``cfg.mode`` (may be empty)."""
    t = np.arange(0, length, cfg.stride, dtype=np.int64)
    span = cfg.span()
    if cfg.mode in ("temporal", "multiview"):
        # the far frame may lie on either side of the reference
        return t[(t + span < length) | (t - span >= 0)]
    return t[t + span < length]


def sample_temporal(rng: np.random.Generator, ref: int, length: int, cfg: SamplingConfig) -> np.ndarray:
    """Frame indices ``[ref, near, far(, intermediate)]``, all on one side of ``ref``.

    Distances: near in ``1..near``, far in ``far..far_max`` (clipped to the video), intermediate strictly
    between them. Raises ValueError when no far frame fits.
    """
    sides = [s for s in (1, -1) if 0 <= ref + s * cfg.far < length]
    if not sides:
        raise ValueError(f"no frame {cfg.far} away from {ref} in a video of {length} frames")
    side = sides[rng.integers(len(sides))] if len(sides) > 1 else sides[0]
    room = (length - 1 - ref) if side > 0 else ref  # farthest reachable distance on that side
    d_far = int(rng.integers(cfg.far, min(cfg.far_max or cfg.far, room) + 1))
    d_near = int(rng.integers(1, cfg.near + 1))
    distances = [0, d_near, d_far]
    if cfg.intermediate:
        distances.append(int(rng.integers(d_near + 1, d_far)))
    return ref + side * np.asarray(distances, dtype=np.int64)


def sample_gravity(rng: np.random.Generator, ref: int, length: int, cfg: SamplingConfig) -> np.ndarray:
    """Four equidistant frames forward in time from ``ref`` (time order matters: the diver falls)."""
    del rng  # fixed spacing; kept for a uniform signature
    if ref + 3 * cfg.gravity_step >= length:
        raise ValueError(f"four frames {cfg.gravity_step} apart do not fit after {ref} in {length} frames")
    return ref + cfg.gravity_step * np.arange(4, dtype=np.int64)


def sample_views(rng: np.random.Generator, num_cameras: int, cfg: SamplingConfig) -> np.ndarray:
    """``cfg.views`` distinct camera slots out of ``num_cameras``, in random order (first = anchor)."""
    if num_cameras < cfg.views:
        raise ValueError(f"need {cfg.views} cameras, the sequence has {num_cameras}")
    return rng.permutation(num_cameras)[: cfg.views].astype(np.int64)
