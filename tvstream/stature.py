"""A known height gives the 3D its size (``tvstream run --height``).

The pose network reads a crop cut to the person's extent, so it sees proportions, not size: its skeletons spread
far less than people's statures (on held-out rendered subjects 3.7% against 12%) and a tall or short athlete's
3D is off by a constant factor, and so is the root's distance (:mod:`tvstream.root_position`). A coach or a
broadcaster usually knows the athlete's height. :class:`StatureScale` scales each frame's root-relative 3D so
that the skeleton's standing chain (:func:`standing_chain`) times :data:`STATURE_PER_CHAIN` equals it. The chain
is measured as the track's running mean weighted by each read's core confidence squared (bone lengths do not
change during a take): a badly read frame (folded or collapsed limbs) hardly moves it. With the plain mean a
rendered group of unusual poses and cameras lost 1.3-4.8 mm of MPJPE with the true height given; weighted, it
gained (``benchmarks/results/s38_rule.md``, H and H2).
"""

from __future__ import annotations

import numpy as np

from tvstream.skeleton import H36M_17

# the standing chain: a leg (hip, knee, ankle; the mean of both) and the trunk up to the head top, as the bones
# that end at these joints in the skeleton's tree, each with its weight. Bone lengths, so the chain does not change
# with the pose (a crouched skier's is a standing one's).
_CHAIN = {"rknee": 0.5, "rankle": 0.5, "lknee": 0.5, "lankle": 0.5, "spine": 1.0, "thorax": 1.0, "neck": 1.0,
          "head": 1.0}
_ENDS = np.array([H36M_17.index(name) for name in _CHAIN])
_STARTS = np.array([H36M_17.parents[j] for j in _ENDS])
_WEIGHTS = np.array(list(_CHAIN.values()))
# stature (the body's vertical extent standing) over that chain: 1.039 for 40 random adults of the renderer's body
# model (anny, 1.45-2.23 m tall), spread 0.0014; the rest is the ankle's height above the sole and the skull above
# the head-top joint
STATURE_PER_CHAIN = 1.039
HEIGHT_RANGE_M = (0.5, 2.5)  # what --height accepts


def standing_chain(pose3d: np.ndarray) -> float:
    """The standing chain of a 17-joint skeleton ``(17, 3)``: its mean leg plus its trunk to the head top (same
    units as ``pose3d``)."""
    p = np.asarray(pose3d)
    return float(np.linalg.norm(p[_ENDS] - p[_STARTS], axis=-1) @ _WEIGHTS)


class StatureScale:
    """Scales one athlete's root-relative 3D (mm) to a known stature.

    Args:
        stature_mm: the athlete's height in mm.
    """

    def __init__(self, stature_mm: float) -> None:
        if not stature_mm > 0:
            raise ValueError(f"stature must be > 0 mm, got {stature_mm}")
        self.chain_mm = stature_mm / STATURE_PER_CHAIN  # the chain the athlete's skeleton should have
        self.reset()

    def reset(self) -> None:
        """Forget the measured chain (another athlete's track)."""
        self._sum, self._weight, self._track = 0.0, 0.0, None

    def __call__(self, pose3d: np.ndarray, track: int | None = None, confidence: float | None = None) -> np.ndarray:
        """``pose3d (17, 3)`` scaled about its root (joint 0) so that the track's mean chain is the stature's; the
        running mean restarts when ``track`` (the athlete's track id) changes. ``confidence``: the read's core
        confidence (its square weighs the frame's chain); None weighs every frame alike."""
        if track != self._track:
            self.reset()
            self._track = track
        chain = standing_chain(pose3d)
        if not np.isfinite(chain) or chain <= 0:
            return pose3d
        weight = 1.0 if confidence is None else float(confidence) ** 2
        self._sum += weight * chain
        self._weight += weight
        mean = self._sum / self._weight if self._weight > 0 else chain  # nothing sure yet: the frame's own
        scaled = pose3d - pose3d[:1]  # the one new array
        scaled *= self.chain_mm / mean
        scaled += pose3d[:1]
        return scaled
