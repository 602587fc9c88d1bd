"""The self-intersection check of posed bodies: segment distances and limbs through each other."""

import numpy as np
import pytest

from train.synth.collisions import segment_distance, self_intersecting
from tvstream.skeleton import H36M_17

J = H36M_17.index


def test_segment_distance_on_hand_computed_cases():
    p0, p1 = np.array([0.0, 0, 0]), np.array([1.0, 0, 0])
    cases = [  # (q0, q1, distance)
        ([0.5, 1, -1], [0.5, 1, 1], 1.0),  # crossing lines, 1 apart
        ([2, 0, 0], [3, 0, 0], 1.0),  # collinear, end to end
        ([-1, 2, 0], [-1, 3, 0], np.sqrt(5)),  # corner to corner
        ([0, 0.5, 0], [1, 0.5, 0], 0.5),  # parallel
        ([0.5, -1, 0], [0.5, 1, 0], 0.0),  # crossing
        ([0.3, 0.4, 0], [0.3, 0.4, 0], 0.4),  # a point
    ]
    q0 = np.array([c[0] for c in cases], float)
    q1 = np.array([c[1] for c in cases], float)
    got = segment_distance(np.tile(p0, (len(cases), 1)), np.tile(p1, (len(cases), 1)), q0, q1)
    np.testing.assert_allclose(got, [c[2] for c in cases], atol=1e-9)


def _standing() -> np.ndarray:
    """A person standing, arms hanging at the sides (metres, z up)."""
    j = np.zeros((17, 3))
    for name, xyz in {"hip": (0, 0, 1.0), "rhip": (-0.1, 0, 1.0), "rknee": (-0.1, 0, 0.55), "rankle": (-0.1, 0, 0.1),
                      "lhip": (0.1, 0, 1.0), "lknee": (0.1, 0, 0.55), "lankle": (0.1, 0, 0.1),
                      "spine": (0, 0, 1.25), "thorax": (0, 0, 1.5), "neck": (0, 0, 1.6), "head": (0, 0, 1.75),
                      "lshoulder": (0.2, 0, 1.5), "lelbow": (0.25, 0, 1.22), "lwrist": (0.27, 0, 0.98),
                      "rshoulder": (-0.2, 0, 1.5), "relbow": (-0.25, 0, 1.22), "rwrist": (-0.27, 0, 0.98)}.items():
        j[J(name)] = xyz
    return j


def test_limbs_through_each_other_are_found_and_touching_is_allowed():
    stand = _standing()
    through_chest = stand.copy()
    through_chest[J("lelbow")], through_chest[J("lwrist")] = (0.1, -0.1, 1.3), (-0.05, 0.05, 1.3)
    crossed_shins = stand.copy()
    crossed_shins[J("lankle")] = (-0.12, 0, 0.1)  # the left shin crosses the right one
    hand_on_thigh = stand.copy()
    hand_on_thigh[J("lelbow")], hand_on_thigh[J("lwrist")] = (0.2, -0.25, 1.05), (0.1, -0.1, 0.8)  # on the skin
    frames = np.stack([stand, through_chest, crossed_shins, hand_on_thigh])
    assert self_intersecting(frames).tolist() == [False, True, True, False]


@pytest.mark.parametrize("family", ["walk", "inversion", "boxing", "get_up"])
def test_drawn_motions_mostly_keep_their_limbs_apart(family):
    anny = pytest.importorskip("anny")  # noqa: F841
    from train.synth.body import BodyModel, Phenotype
    from train.synth.motions import PROCEDURAL

    body = BodyModel()
    rng = np.random.default_rng(1)
    motion = PROCEDURAL[family](body.bone_index, 40, 25.0, rng)
    _, joints = body.pose(Phenotype.sample(rng), motion.rotvecs)
    assert self_intersecting(joints).mean() < 0.5
