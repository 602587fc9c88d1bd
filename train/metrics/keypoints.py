"""2D keypoint and box accuracy (numpy): PCK against a torso-sized threshold, box IoU.

PCK@a: the fraction of labeled, visible core joints whose predicted 2D position lies within ``a`` times the
labeled torso diagonal of the label. The 12 core joints are hips, knees, ankles, shoulders, elbows and
wrists (the joints every 2D model has); the torso diagonal is the mean of the two shoulder-to-opposite-hip
distances, so it does not shrink when the athlete turns side-on as a shoulder width would.
"""

from __future__ import annotations

import numpy as np

from tvstream.skeleton import CORE_JOINTS, H36M_17


def torso_diagonal(joints2d: np.ndarray) -> np.ndarray:
    """(N, 17, 2) labeled joints -> (N,) mean of |lshoulder - rhip| and |rshoulder - lhip|."""
    j = {n: joints2d[:, H36M_17.index(n)] for n in ("lshoulder", "rshoulder", "lhip", "rhip")}
    return (np.linalg.norm(j["lshoulder"] - j["rhip"], axis=-1) + np.linalg.norm(j["rshoulder"] - j["lhip"], axis=-1)) / 2


def pck_hits(pred: np.ndarray, target: np.ndarray, visible: np.ndarray, alpha: float = 0.2,
             joints: tuple[int, ...] = CORE_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """pred, target (N, 17, 2) px, visible (N, 17) -> (hits (N, J) bool, counted (N, J) bool) over ``joints``.

    PCK is ``hits.sum() / counted.sum()``; frames and joints are kept apart so callers can group them.
    """
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and target must both be (N, K, 2), got {pred.shape} and {target.shape}")
    if visible.shape != pred.shape[:2]:
        raise ValueError(f"visible must be {pred.shape[:2]}, got {visible.shape}")
    idx = list(joints)
    ref = torso_diagonal(target)[:, None]  # (N, 1)
    err = np.linalg.norm(pred[:, idx] - target[:, idx], axis=-1)  # (N, J)
    counted = visible[:, idx].astype(bool) & (ref > 0)
    return (err <= alpha * ref) & counted, counted


def pck(pred: np.ndarray, target: np.ndarray, visible: np.ndarray, alpha: float = 0.2) -> float:
    """PCK@alpha over the core joints (see the module docstring); NaN when nothing is counted."""
    hits, counted = pck_hits(pred, target, visible, alpha)
    return float(hits.sum() / counted.sum()) if counted.any() else float("nan")
