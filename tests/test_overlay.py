"""Overlay drawing: boxes, skeletons and the 3D inset land where the numbers say."""

import numpy as np

from tvstream.overlay import SIDE_COLORS, draw_box, draw_pose3d_inset, draw_skeleton
from tvstream.skeleton import H36M_17


def test_box_is_drawn_on_its_edges_only():
    img = np.zeros((50, 60, 3), np.uint8)
    draw_box(img, np.array([10.0, 5, 40, 30]))
    assert (img[5, 10:41] == (0, 255, 0)).all() and (img[30, 10:41] == (0, 255, 0)).all()
    assert (img[5:31, 10] == (0, 255, 0)).all() and img[15, 20].sum() == 0


def test_skeleton_bones_take_their_side_colours():
    img = np.zeros((100, 100, 3), np.uint8)
    joints = np.full((17, 2), np.nan)
    right_hip = next(j for j, p in enumerate(H36M_17.parents) if p == 0 and H36M_17.side(j) == "right")
    joints[0], joints[right_hip] = (50, 50), (30, 50)
    draw_skeleton(img, joints, thickness=1)
    assert tuple(img[50, 40]) == SIDE_COLORS[H36M_17.side(right_hip)]  # on the bone, between the joints
    assert tuple(img[50, 50]) == (255, 255, 255)  # the joint itself
    assert img[10, 10].sum() == 0


def test_3d_inset_darkens_its_corner_and_draws_the_turned_pose_inside_it():
    img = np.full((200, 300, 3), 90, np.uint8)
    pose = np.zeros((17, 3))
    pose[:, 1] = np.linspace(-800, 800, 17)  # a vertical line of joints through the pelvis
    draw_pose3d_inset(img, pose, size=100)
    inset, rest = img[:100, 200:], img[100:, :200]
    assert (rest == 90).all() and (img[:100, :200] == 90).all()  # nothing outside the inset
    assert (inset == 30).mean() > 0.8  # darkened background
    assert (inset[:, 50] != 30).any(axis=-1).sum() > 50  # the vertical line is drawn down the middle column


def test_3d_inset_skips_poses_that_are_not_finite():
    img = np.full((200, 300, 3), 90, np.uint8)
    draw_pose3d_inset(img, np.full((17, 3), np.nan))
    assert (img == 90).all()


def test_joints_below_0_3_confidence_and_their_bones_are_faded():
    img = np.full((100, 100, 3), 100, np.uint8)
    joints = np.full((17, 2), np.nan)
    right_hip = next(j for j, p in enumerate(H36M_17.parents) if p == 0 and H36M_17.side(j) == "right")
    right_knee = H36M_17.parents.index(right_hip)
    joints[0], joints[right_hip], joints[right_knee] = (50, 50), (30, 50), (30, 80)
    conf = np.full(17, 0.9)
    conf[right_knee] = 0.1
    draw_skeleton(img, joints, thickness=1, conf=conf)
    colour = np.array(SIDE_COLORS["right"])
    assert tuple(img[50, 40]) == tuple(colour)  # pelvis-hip bone: both joints sure
    faded = np.round(0.35 * colour + 0.65 * 100)  # hip-knee bone: the knee is unsure
    np.testing.assert_array_equal(img[65, 30], faded)
    assert tuple(img[50, 30]) == (255, 255, 255)  # a sure joint
    np.testing.assert_array_equal(img[80, 30], np.round(0.35 * 255 + 0.65 * faded))  # faded, over its faded bone
