"""A cheap self-intersection check of posed bodies: limbs as capsules around the H36M bones.

Random motions with per-joint perturbations sometimes push a forearm through the chest or one shin through
the other; a network trained on those frames learns poses no person makes. Each limb bone is a capsule
(a segment with a radius); two capsules that are not neighbours intersect when their segments come closer
than ``DEPTH`` of the sum of their radii (touching, a hand on a knee, is allowed; passing through is not).
Segment-to-segment distances are computed for every frame at once.
"""

from __future__ import annotations

import numpy as np

from tvstream.skeleton import H36M_17

# capsules: (from, to, radius in metres); the torso is the pelvis-thorax line with the torso's half depth
_J = H36M_17.index
CAPSULES = {
    "torso": (_J("hip"), _J("thorax"), 0.10),
    "l_upper_arm": (_J("lshoulder"), _J("lelbow"), 0.045), "l_forearm": (_J("lelbow"), _J("lwrist"), 0.035),
    "r_upper_arm": (_J("rshoulder"), _J("relbow"), 0.045), "r_forearm": (_J("relbow"), _J("rwrist"), 0.035),
    "l_thigh": (_J("lhip"), _J("lknee"), 0.065), "l_shin": (_J("lknee"), _J("lankle"), 0.045),
    "r_thigh": (_J("rhip"), _J("rknee"), 0.065), "r_shin": (_J("rknee"), _J("rankle"), 0.045),
}
PAIRS = (  # capsules that share no joint and that a person cannot push through each other
    ("l_forearm", "r_forearm"), ("l_forearm", "torso"), ("r_forearm", "torso"),
    ("l_upper_arm", "r_forearm"), ("r_upper_arm", "l_forearm"),
    ("l_shin", "r_shin"), ("l_thigh", "r_shin"), ("r_thigh", "l_shin"),
    ("l_forearm", "l_thigh"), ("l_forearm", "r_thigh"), ("r_forearm", "l_thigh"), ("r_forearm", "r_thigh"),
)
DEPTH = 0.5  # capsules closer than half the sum of their radii pass through each other


def segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Shortest distance ``(...)`` between segments ``p0-p1`` and ``q0-q1`` (``(..., 3)`` each)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    denom = a * e - b * b
    eps = 1e-12
    # closest point on the first segment's line to the second's, clamped; then back-solve and clamp again
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0, 1), 0.0)
    t = np.where(e > eps, (b * s + f) / np.maximum(e, eps), -1.0)  # a point: take the t < 0 branch below
    s = np.where(t < 0, np.where(a > eps, np.clip(-c / np.maximum(a, eps), 0, 1), 0.0), s)
    s = np.where(t > 1, np.where(a > eps, np.clip((b - c) / np.maximum(a, eps), 0, 1), 0.0), s)
    t = np.clip(t, 0, 1)
    gap = p0 + d1 * s[..., None] - (q0 + d2 * t[..., None])
    return np.linalg.norm(gap, axis=-1)


def self_intersecting(joints: np.ndarray) -> np.ndarray:
    """``(T,)`` bool: frames of ``joints (T, 17, 3)`` (metres, H36M order) where two limbs pass through each other."""
    hit = np.zeros(len(joints), bool)
    for first, second in PAIRS:
        (i0, i1, ri), (j0, j1, rj) = CAPSULES[first], CAPSULES[second]
        gap = segment_distance(joints[:, i0], joints[:, i1], joints[:, j0], joints[:, j1])
        hit |= gap < DEPTH * (ri + rj)
    return hit
