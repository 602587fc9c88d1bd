"""MediaPipe Pose's 33 landmarks -> tvstream's 17 H36M joints, in 2D (source px) and 3D (camera mm).

Every H36M joint is a fixed weighted sum of landmarks (one row of :data:`WEIGHTS`), so the same recipe maps
image landmarks and world landmarks. MediaPipe names sides from the subject's point of view, as H36M does.

==========  ==============================================  ========================================
joint       recipe (MediaPipe landmark ids)                 why
==========  ==============================================  ========================================
hip         mid(23 left hip, 24 right hip)                  H36M's pelvis lies between the hip joints
r/l hip     24 / 23                                         direct
r/l knee    26 / 25                                         direct
r/l ankle   28 / 27                                         direct
spine       mid(hip, thorax)                                H36M's spine joint is mid-torso
thorax      mid(11 left shoulder, 12 right shoulder)        base of the neck, between the shoulders
neck        mid(7 left ear, 8 right ear)                    tvstream's neck is the skull base, level
                                                            with the ears
head        mid(ears) + 2 (mid(2, 5 eyes) - mid(9, 10       top of the head: about two mouth-to-eye
            mouth corners))                                 spans above the ears, along the face's up
l/r shoulder 11 / 12                                        direct
l/r elbow   13 / 14                                         direct
l/r wrist   15 / 16                                         direct
==========  ==============================================  ========================================

Confidence of a joint is MediaPipe's ``visibility`` of its landmark; a joint made of several landmarks takes
the smallest of theirs (it is only as good as its worst input). ``head`` is an estimate (MediaPipe has no
head-top landmark) and ``neck`` a proxy; the 12 direct joints are MediaPipe's own.
"""

from __future__ import annotations

import numpy as np

from tvstream.skeleton import H36M_17

NUM_LANDMARKS = 33
# H36M joint -> MediaPipe Pose landmark, for the joints MediaPipe has as such
MP_LANDMARK = {"lhip": 23, "rhip": 24, "lknee": 25, "rknee": 26, "lankle": 27, "rankle": 28,
               "lshoulder": 11, "rshoulder": 12, "lelbow": 13, "relbow": 14, "lwrist": 15, "rwrist": 16}
HEAD_REACH = 2.0  # mouth-to-eye spans from the ears up to the head top (~13 cm over ~6.5 cm on an adult)
_COMBINED = {
    "hip": {23: 0.5, 24: 0.5},
    "thorax": {11: 0.5, 12: 0.5},
    "spine": {23: 0.25, 24: 0.25, 11: 0.25, 12: 0.25},
    "neck": {7: 0.5, 8: 0.5},
    "head": {7: 0.5, 8: 0.5, 2: HEAD_REACH / 2, 5: HEAD_REACH / 2, 9: -HEAD_REACH / 2, 10: -HEAD_REACH / 2},
}


def _weights() -> np.ndarray:
    w = np.zeros((H36M_17.num_joints, NUM_LANDMARKS), np.float32)  # (17, 33)
    for name, i in MP_LANDMARK.items():
        w[H36M_17.index(name), i] = 1.0
    for name, recipe in _COMBINED.items():
        for i, weight in recipe.items():
            w[H36M_17.index(name), i] = weight
    return w


WEIGHTS = _weights()  # (17, 33): joints = WEIGHTS @ landmarks; every row sums to 1
USED = WEIGHTS != 0  # (17, 33): the landmarks each joint's confidence is taken from


def to_h36m(points: np.ndarray) -> np.ndarray:
    """(N, 33, D) landmark coordinates -> (N, 17, D) H36M joints by the recipes of the module docstring."""
    if points.ndim != 3 or points.shape[1] != NUM_LANDMARKS:
        raise ValueError(f"landmarks must be (N, 33, D), got {points.shape}")
    # only a joint's own landmarks enter its sum: an unknown (NaN) landmark elsewhere must not leak in via 0 * NaN
    used = np.where(USED[None, :, :, None], points.astype(np.float32)[:, None], 0.0)  # (N, 17, 33, D)
    return np.einsum("jl,njld->njd", WEIGHTS, used).astype(np.float32)  # (N, 17, D)


def joint_confidence(visibility: np.ndarray) -> np.ndarray:
    """(N, 33) MediaPipe visibility -> (N, 17) per-joint confidence in [0, 1]: the min over its landmarks."""
    if visibility.ndim != 2 or visibility.shape[1] != NUM_LANDMARKS:
        raise ValueError(f"visibility must be (N, 33), got {visibility.shape}")
    vis = np.clip(visibility.astype(np.float32), 0.0, 1.0)
    masked = np.where(USED[None], vis[:, None, :], np.inf)  # (N, 17, 33)
    return masked.min(axis=2).astype(np.float32)


def world_to_camera_mm(world: np.ndarray) -> np.ndarray:
    """(N, 33, 3) MediaPipe world landmarks (metres) -> (N, 17, 3) root-relative joints in mm.

    MediaPipe documents the world landmarks as metres with the origin between the hips; it does not document
    their axes. They follow its image landmarks (x right, y down, z growing away from the camera), which
    are tvstream's camera axes (x right / y down / z forward), so they are taken as such, unrotated. Not known:
    whether the frame turns with camera roll or stays upright, and the absolute scale (a mean-size body is
    assumed by the model), so treat lengths as approximate and orientation as the camera's.
    """
    joints = to_h36m(world[..., :3]) * 1000.0  # (N, 17, 3) mm
    return (joints - joints[:, :1]).astype(np.float32)  # root-relative: our pelvis is the mid-hip origin
