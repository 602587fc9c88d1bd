"""Every person the detector sees: the peaks of its centre map, each with a box.

The pose network's detector (``train/posenet/model.py``) scores every cell of a coarse map (1/32 of the model's
frame) as a person's centre and predicts a log half-size per cell; training reads one soft-argmax over the
whole map, which lands between two people when there are two. The exported graph also returns the raw map
(output ``detections``), and :func:`find_people` reads one candidate per peak: the probability-weighted centre
and size within the peak's 3x3 cells, and the share of the map's probability there as the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """One person: ``centre`` and ``half`` (x, y) in normalised frame coordinates (-1..1), ``score`` in [0, 1]."""

    centre: np.ndarray
    half: np.ndarray
    score: float

    def track_row(self) -> np.ndarray:
        """The model's ``track`` input ``[1, cx, cy, hx, hy]`` that crops around this person."""
        return np.array([1.0, *self.centre, *self.half], np.float32)


def _cell_centres(n: int) -> np.ndarray:
    """Normalised coordinates of ``n`` cell centres, ``(2i + 1) / n - 1`` (as the model's soft-argmax grid)."""
    return (2 * np.arange(n) + 1) / n - 1


def find_people(detections: np.ndarray, min_score: float = 0.1, max_people: int = 8) -> list[Candidate]:
    """``detections (3, h, w)`` (centre logits, log half-size x, y) -> candidates, highest score first.

    A peak is a cell whose probability (softmax over the whole map) is at least each of its 8 neighbours'; it
    becomes a candidate when the probability within its 3x3 cells is >= ``min_score``.
    """
    if detections.ndim != 3 or detections.shape[0] != 3:
        raise ValueError(f"detections must be (3, h, w), got {detections.shape}")
    logits = detections[0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    h, w = p.shape
    padded = np.pad(p, 1, constant_values=-1.0)
    neighbours = np.stack([padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    peaks = np.argwhere(p >= neighbours.max(axis=0))  # (n, 2) rows, cols
    order = np.argsort(-p[peaks[:, 0], peaks[:, 1]], kind="stable")
    xs, ys = _cell_centres(w), _cell_centres(h)
    people: list[Candidate] = []
    taken = np.zeros_like(p, dtype=bool)
    for r, c in peaks[order]:
        rows, cols = slice(max(r - 1, 0), r + 2), slice(max(c - 1, 0), c + 2)
        if taken[r, c]:
            continue  # a plateau's second cell, already read with the first
        weight = p[rows, cols]
        mass = float(weight.sum())
        if mass < min_score:
            continue
        taken[rows, cols] = True
        centre = np.array([(weight * xs[cols][None, :]).sum(), (weight * ys[rows][:, None]).sum()]) / mass
        log_half = (detections[1:, rows, cols] * weight).sum(axis=(1, 2)) / mass
        people.append(Candidate(centre, np.exp(np.clip(log_half, -5, 1)), mass))
        if len(people) == max_people:
            break
    return people
