"""Every person the detector sees: the peaks of its centre map, each with a box.

The pose network's detector (``train/posenet/model.py``) scores every cell of a coarse map (1/32 of the model's
frame) as a person's centre and predicts a log half-size per cell; training reads one soft-argmax over the
whole map, which lands between two people when there are two. The exported graph also returns the raw map
(output ``detections``), and :func:`find_people` reads one candidate per peak whose logit is high enough: the
softmax-weighted centre and size within the peak's 3x3 cells, and the peak's logit as the score.

The threshold is absolute, not a share of the map's probability: trained on one person per frame, the detector
gives the most salient person nearly all the softmax mass (measured on the crossing clips of
``train/synth/crossing.py``: a passer-by in front at logit 20 leaves the athlete's own peak, logit 13, a share
of 0.001), while the athlete alone peaks at 13-17 and the background's strongest peaks stay below 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LOGIT = 9.0  # a peak at least this high is a person (see the module docstring)


@dataclass(frozen=True)
class Candidate:
    """One person: ``centre`` and ``half`` (x, y) in normalised frame coordinates (-1..1), and a ``score``."""

    centre: np.ndarray
    half: np.ndarray
    score: float  # the detector's centre logit at the peak (higher: surer)

    def track_row(self) -> np.ndarray:
        """The model's ``track`` input ``[1, cx, cy, hx, hy]`` that crops around this person."""
        return np.array([1.0, *self.centre, *self.half], np.float32)

    def iou(self, centre: np.ndarray, half: np.ndarray) -> float:
        """Intersection over union of this person's box and the box of ``centre``, ``half`` (normalised)."""
        inter = np.prod(np.clip(np.minimum(self.centre + self.half, centre + half)
                                - np.maximum(self.centre - self.half, centre - half), 0, None))
        union = 4 * (np.prod(self.half) + np.prod(half)) - inter
        return float(inter / union) if union > 0 else 0.0


def _cell_centres(n: int) -> np.ndarray:
    """Normalised coordinates of ``n`` cell centres, ``(2i + 1) / n - 1`` (as the model's soft-argmax grid)."""
    return (2 * np.arange(n) + 1) / n - 1


def _max3x3(x: np.ndarray) -> np.ndarray:
    """The maximum over each cell's 3x3 neighbourhood (itself included; the border has fewer neighbours)."""
    rows = x.copy()
    np.maximum(rows[:, 1:], x[:, :-1], out=rows[:, 1:])
    np.maximum(rows[:, :-1], x[:, 1:], out=rows[:, :-1])
    out = rows.copy()
    np.maximum(out[1:], rows[:-1], out=out[1:])
    np.maximum(out[:-1], rows[1:], out=out[:-1])
    return out


def find_people(detections: np.ndarray, min_logit: float = MIN_LOGIT, max_people: int = 8) -> list[Candidate]:
    """``detections (3, h, w)`` (centre logits, log half-size x, y) -> candidates, strongest first.

    A peak is a cell whose logit is at least each of its 8 neighbours'; it is a person when its logit is
    >= ``min_logit`` (the strongest peak always is, so a run on one faint person behaves as before). Its centre
    and size are read with the softmax weights of its 3x3 cells.
    """
    if detections.ndim != 3 or detections.shape[0] != 3:
        raise ValueError(f"detections must be (3, h, w), got {detections.shape}")
    logits = detections[0].astype(np.float64)
    h, w = logits.shape
    peaks = np.argwhere((logits >= _max3x3(logits)) & (logits >= min(min_logit, logits.max())))  # (n, 2) rows, cols
    peaks = peaks[np.argsort(-logits[peaks[:, 0], peaks[:, 1]], kind="stable")]
    xs, ys = _cell_centres(w), _cell_centres(h)
    people: list[Candidate] = []
    taken = np.zeros_like(logits, dtype=bool)
    for r, c in peaks:
        peak = float(logits[r, c])
        if people and peak < min_logit:
            break  # sorted: every later peak is weaker
        if taken[r, c]:
            continue  # a plateau's second cell, already read with the first
        rows, cols = slice(max(r - 1, 0), r + 2), slice(max(c - 1, 0), c + 2)
        taken[rows, cols] = True
        weight = np.exp(logits[rows, cols] - peak)
        weight /= weight.sum()
        centre = np.array([(weight * xs[cols][None, :]).sum(), (weight * ys[rows][:, None]).sum()])
        log_half = (detections[1:, rows, cols] * weight).sum(axis=(1, 2))
        people.append(Candidate(centre, np.exp(np.clip(log_half, -5, 1)), peak))
        if len(people) == max_people:
            break
    return people
