"""One athlete, kept: which person the run follows, and the track id every pose line carries.

At the start (and after the athlete has been gone longer than ``hold_s``) a person is chosen among the
detector's candidates (:mod:`tvstream.candidates`) by the ``select`` policy: ``largest`` (the biggest box),
``centre`` (nearest the frame's centre) or ``first`` (the detector's strongest, i.e. the first person found).
That starts a new track id. While the athlete is held, a frame whose crop the detector places (the crop did
not follow confident joints) may only take a candidate that is where the athlete should be (a constant-
velocity prediction; the gate widens the longer the athlete has been unseen), about the athlete's size, and
dressed like the athlete (a colour histogram of the torso region, learned on confident frames). When no
candidate passes, the frame is not detected: a person crossing the frame does not take over the track, and
an athlete hidden for up to ``hold_s`` keeps the id when it reappears.

Coordinates are the model's normalised frame coordinates (-1..1); distances are measured in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvstream.candidates import Candidate

SELECT_POLICIES = ("largest", "centre", "first")
TORSO = np.array([0.3, 0.3])  # the appearance region: this share of the box's half-size around its centre
COLOUR_LEVELS = 4  # per channel: a 64-bin RGB histogram


def appearance(image: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray | None:
    """The normalised colour histogram ``(64,)`` of the torso region of a box in ``image (H, W, 3)`` uint8;
    None when the region holds no pixel."""
    h, w = image.shape[:2]
    size = np.array([w, h], np.float64)
    c, r = (np.asarray(centre) + 1) * size / 2, np.asarray(half) * TORSO * size / 2
    x0, y0 = np.floor(np.clip(c - r, 0, size)).astype(int)
    x1, y1 = np.ceil(np.clip(c + r, 0, size)).astype(int)
    region = image[y0:y1, x0:x1]
    if region.size == 0:
        return None
    q = (region // (256 // COLOUR_LEVELS)).astype(np.int64).reshape(-1, 3)
    hist = np.bincount((q[:, 0] * COLOUR_LEVELS + q[:, 1]) * COLOUR_LEVELS + q[:, 2], minlength=COLOUR_LEVELS ** 3)
    return hist / hist.sum()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two histograms: 1 the same colours, 0 none shared."""
    return float(np.sqrt(a * b).sum())


@dataclass(frozen=True)
class KeepOptions:
    """How the athlete is chosen and kept (``tvstream run --select``)."""

    select: str = "largest"
    hold_s: float = 2.0  # seconds the track survives without the athlete (a full occlusion, a missed detection)
    gate: float = 1.5  # a candidate's centre may be this many athlete half-sizes from the prediction ...
    gate_growth: float = 2.0  # ... times (1 + gate_growth * seconds unseen)
    size_ratio: float = 2.0  # ... and its size within this factor of the athlete's
    min_similarity: float = 0.5  # ... and its torso colours at least this close (Bhattacharyya coefficient)
    learn: float = 0.1  # running-average weight of a confident frame's colours

    def __post_init__(self) -> None:
        if self.select not in SELECT_POLICIES:
            raise ValueError(f"select must be one of {', '.join(SELECT_POLICIES)}, got {self.select!r}")
        if self.hold_s < 0 or self.gate <= 0 or self.size_ratio < 1 or not 0 <= self.min_similarity <= 1:
            raise ValueError("need hold_s >= 0, gate > 0, size_ratio >= 1 and min_similarity in [0, 1]")


class AthleteTrack:
    """The athlete's position, velocity, size, colours and track id, updated frame by frame.

    Args:
        input_size: ``(H, W)`` of the model's frames (for pixel distances).
    """

    def __init__(self, input_size: tuple[int, int], options: KeepOptions = KeepOptions()) -> None:
        h, w = input_size
        self._px = np.array([w, h], np.float64) / 2  # pixels per normalised unit, (x, y)
        self.options = options
        self.track_id: int | None = None
        self._ids = 0
        self._centre = self._half = self._velocity = self._colours = None
        self._seen: float | None = None  # time of the last detected frame

    def held(self, t: float) -> bool:
        """Is there an athlete whose track survives at time ``t``?"""
        return self._seen is not None and t - self._seen <= self.options.hold_s

    def _size(self, half: np.ndarray) -> float:
        return float(np.max(half * self._px))  # pixels: the longer half-side

    def _select(self, people: list[Candidate]) -> Candidate:
        policy = self.options.select
        if policy == "largest":
            return max(people, key=lambda p: float(np.prod(p.half * self._px)))
        if policy == "centre":
            return min(people, key=lambda p: float(np.linalg.norm(p.centre * self._px)))
        return people[0]  # first: the strongest, as find_people orders them

    def choose(self, people: list[Candidate], t: float, image: np.ndarray) -> Candidate | None:
        """The candidate that is the athlete at time ``t`` in ``image`` (model frame), or None: nobody is."""
        if not people:
            return None
        if not self.held(t):
            return self._select(people)
        o = self.options
        unseen = t - self._seen
        predicted = self._centre + self._velocity * unseen
        size = self._size(self._half)
        best, best_cost = None, np.inf
        for p in people:
            distance = float(np.linalg.norm((p.centre - predicted) * self._px)) / size
            ratio = self._size(p.half) / size
            if distance > o.gate * (1 + o.gate_growth * unseen) or not 1 / o.size_ratio <= ratio <= o.size_ratio:
                continue
            sim = 1.0
            if self._colours is not None:
                colours = appearance(image, p.centre, p.half)
                sim = 0.0 if colours is None else similarity(colours, self._colours)
            if sim < o.min_similarity:
                continue
            cost = distance - 2 * sim
            if cost < best_cost:
                best, best_cost = p, cost
        return best

    def update(self, centre: np.ndarray, half: np.ndarray, t: float, detected: bool, confident: bool,
               image: np.ndarray | None = None) -> int | None:
        """Take frame ``t``'s box (normalised ``centre``, ``half``); returns the track id its line carries
        (None when no athlete is held). ``confident`` frames (and the first of a track) teach the colours."""
        if not detected:
            if not self.held(t):
                self.track_id = None
            return self.track_id
        centre, half = np.asarray(centre, np.float64), np.asarray(half, np.float64)
        if not self.held(t):  # a new athlete
            self._ids += 1
            self.track_id = self._ids
            self._velocity, self._colours = np.zeros(2), None
        else:
            dt = t - self._seen
            if dt > 0:
                step = (centre - self._centre) / dt
                self._velocity = 0.5 * self._velocity + 0.5 * step if dt < 0.2 else np.zeros(2)
        self._centre, self._half, self._seen = centre, half, t
        if image is not None and (confident or self._colours is None):
            colours = appearance(image, centre, half)
            if colours is not None:
                a = self.options.learn if self._colours is not None else 1.0
                self._colours = colours if a == 1.0 else (1 - a) * self._colours + a * colours
        return self.track_id
