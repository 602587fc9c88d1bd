"""One athlete, kept: which person the run follows, and the track id every pose line carries.

At the start (and after the athlete has been gone longer than ``hold_s``) a person is chosen among the
detector's candidates (:mod:`tvstream.candidates`) by the ``select`` policy: ``largest`` (the biggest box),
``centre`` (nearest the frame's centre) or ``first`` (the detector's strongest, i.e. the first person found).
That starts a new track id. While the athlete is held, a frame whose crop the detector places (the crop did
not follow confident joints) may only take a candidate that is where the athlete should be (a constant-
velocity prediction; the gate widens the longer the athlete has been unseen) and about the athlete's size;
among several that pass, the one nearest and dressed most like the athlete (a colour histogram of the torso
region, learnt only on confident frames where nobody else is near) wins. When no candidate passes, the frame is
not detected: a person crossing the frame does not take over the track, and an athlete hidden for up to
``hold_s`` keeps the id when it reappears.

Colours only break ties: on ``examples/sample_ski.mp4`` the skier's own torso histogram, against the one learnt,
scored 0.2-0.7 (snow and sky behind a small, turning body), so a colour threshold vetoed the athlete itself
(PCK@0.2 through the run fell from 0.84 to 0.50).

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
    gate_growth: float = 1.0  # ... times (1 + gate_growth * seconds unseen)
    size_ratio: float = 2.0  # ... and its size within this factor of the athlete's
    predict_s: float = 1.0  # the constant-velocity prediction stops after this long unseen (the gate still grows)
    max_growth: float = 1.25  # a crop around the held athlete is at most this times its (smoothed) size
    size_smoothing: float = 0.8  # weight of the old size in the running size (a merge with a passer-by is brief)
    colour_weight: float = 2.0  # among several that pass: cost = distance (half-sizes) - this x colour similarity
    learn: float = 0.05  # running-average weight of the colours of a confident frame where the athlete is clear
    learn_similarity: float = 0.8  # clear: its colours at least this close, and nobody within 2 half-sizes

    def __post_init__(self) -> None:
        if self.select not in SELECT_POLICIES:
            raise ValueError(f"select must be one of {', '.join(SELECT_POLICIES)}, got {self.select!r}")
        if self.hold_s < 0 or self.gate <= 0 or self.size_ratio < 1 or self.colour_weight < 0:
            raise ValueError("need hold_s >= 0, gate > 0, size_ratio >= 1 and colour_weight >= 0")


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
        predicted = self._centre + self._velocity * min(unseen, o.predict_s)
        size = self._size(self._half)
        passing = []
        for p in people:
            distance = float(np.linalg.norm((p.centre - predicted) * self._px)) / size
            ratio = self._size(p.half) / size
            if distance <= o.gate * (1 + o.gate_growth * unseen) and 1 / o.size_ratio <= ratio <= o.size_ratio:
                passing.append((distance, p))
        if len(passing) < 2 or self._colours is None:
            return min(passing, key=lambda d: d[0], default=(None, None))[1]

        def cost(item: tuple[float, Candidate]) -> float:
            colours = appearance(image, item[1].centre, item[1].half)
            return item[0] - o.colour_weight * (0.0 if colours is None else similarity(colours, self._colours))

        return min(passing, key=cost)[1]

    def limit(self, row: np.ndarray, t: float) -> np.ndarray:
        """A ``track`` row ``[use, cx, cy, hx, hy]`` whose half-size is at most ``max_growth`` times the held
        athlete's: when the joints (or a detector peak) spread over the athlete and someone next to it, the
        crop stays the athlete's size instead of widening onto both and drifting to the other."""
        if row[0] != 1 or not self.held(t):
            return row
        row = row.copy()
        row[3:5] = np.minimum(row[3:5], self.options.max_growth * self._half)
        return row

    def clear(self, pick: Candidate, people: list[Candidate]) -> bool:
        """Is nobody else within 2 of ``pick``'s half-sizes (so its torso region holds the athlete alone)?"""
        size = self._size(pick.half)
        return all(p is pick or float(np.linalg.norm((p.centre - pick.centre) * self._px)) > 2 * size for p in people)

    def update(self, centre: np.ndarray, half: np.ndarray, t: float, detected: bool, confident: bool,
               image: np.ndarray | None = None) -> int | None:
        """Take frame ``t``'s box (normalised ``centre``, ``half``); returns the track id its line carries
        (None when no athlete is held). With an ``image``, a ``confident`` frame whose colours are close to the
        athlete's (and the first frame of a track) teaches the colours: a person merging with the athlete, or
        in front of it, must not (pass no image where someone else is near, see :meth:`clear`)."""
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
                self._velocity = 0.7 * self._velocity + 0.3 * step if dt < 0.2 else np.zeros(2)
        if self._half is not None and self.held(t):
            half = self.options.size_smoothing * self._half + (1 - self.options.size_smoothing) * half
        self._centre, self._half, self._seen = centre, half, t
        if image is not None and (confident or self._colours is None):
            colours = appearance(image, centre, half)
            if colours is None:
                pass
            elif self._colours is None:
                self._colours = colours
            elif similarity(colours, self._colours) >= self.options.learn_similarity:
                self._colours = (1 - self.options.learn) * self._colours + self.options.learn * colours
        return self.track_id
