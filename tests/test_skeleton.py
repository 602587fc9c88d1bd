import numpy as np
import pytest

from tvstream.skeleton import H36M_17, JOINT_NAMES, Skeleton


def test_h36m_has_17_joints_rooted_at_the_pelvis():
    assert H36M_17.num_joints == 17 == len(JOINT_NAMES)
    assert H36M_17.names[0] == "hip" and H36M_17.parents[0] == -1
    assert len(H36M_17.bones) == 16


def test_h36m_kinematic_chains_follow_the_body():
    sk = H36M_17

    def chain(name):
        j, out = sk.index(name), []
        while j >= 0:
            out.append(sk.names[j])
            j = sk.parents[j]
        return out

    assert chain("rwrist") == ["rwrist", "relbow", "rshoulder", "thorax", "spine", "hip"]
    assert chain("lankle") == ["lankle", "lknee", "lhip", "hip"]
    assert chain("head") == ["head", "neck", "thorax", "spine", "hip"]


def test_flip_permutation_swaps_sides_and_is_an_involution():
    perm = H36M_17.flip_permutation()
    assert perm[H36M_17.index("lshoulder")] == H36M_17.index("rshoulder")
    assert perm[H36M_17.index("rknee")] == H36M_17.index("lknee")
    assert perm[H36M_17.index("head")] == H36M_17.index("head")
    np.testing.assert_array_equal(perm[perm], np.arange(17))
    for j, name in enumerate(H36M_17.names):  # every left joint maps to the right joint of the same name
        if name.startswith("l") and H36M_17.side(j) == "left":
            assert H36M_17.names[perm[j]] == "r" + name[1:]


def test_sides_cover_left_right_and_center():
    sides = [H36M_17.side(j) for j in range(17)]
    assert sides.count("left") == sides.count("right") == 6
    assert sides.count("center") == 5


def test_unknown_joint_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: hip, rhip"):
        H36M_17.index("nose")


@pytest.mark.parametrize("parents, message", [
    ((-1, 0, 0), "left .* must be disjoint"),
    ((-1, 2, 0), "parent of joint 1 must precede it"),
    ((0, 0, 1), "joint 0 must be the only root"),
])
def test_skeleton_rejects_bad_trees(parents, message):
    left, right = ((1,), (1,)) if message.startswith("left") else ((1,), (2,))
    with pytest.raises(ValueError, match=message):
        Skeleton(names=("a", "b", "c"), parents=parents, left=left, right=right)
