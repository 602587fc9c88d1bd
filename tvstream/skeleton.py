"""The 17-joint Human3.6M skeleton every part of tvstream speaks.

Order and parents follow the Human3.6M 17-joint convention used by VideoPose3D and the paper's
evaluation (joint 0 = pelvis = root). 3D joints are in camera millimetres, x right / y down / z forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """Joint names, kinematic tree and left/right symmetry of a skeleton.

    Args:
        names: joint names, index = joint id.
        parents: parent joint id of each joint, -1 for the root.
        left: joint ids on the subject's left side.
        right: the mirrored joint of each entry in ``left``, same order.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]

    def __post_init__(self) -> None:
        k = len(self.names)
        if len(set(self.names)) != k:
            raise ValueError(f"joint names must be unique, got {self.names}")
        if len(self.parents) != k:
            raise ValueError(f"need one parent per joint: {k} names, {len(self.parents)} parents")
        roots = [j for j, p in enumerate(self.parents) if p == -1]
        if roots != [0]:
            raise ValueError(f"joint 0 must be the only root, got roots {roots}")
        for j, p in enumerate(self.parents):
            if j > 0 and not 0 <= p < j:
                raise ValueError(f"parent of joint {j} must precede it, got {p}")
        if len(self.left) != len(self.right) or set(self.left) & set(self.right):
            raise ValueError(f"left {self.left} and right {self.right} must be disjoint pairs")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs, one per non-root joint, for drawing and bone-length checks."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    def side(self, joint: int) -> str:
        """'left', 'right' or 'center': which colour to draw a joint (and the bone ending at it)."""
        if joint in self.left:
            return "left"
        if joint in self.right:
            return "right"
        return "center"

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints: ``pose[..., perm, :]`` mirrors the labels."""
        perm = np.arange(self.num_joints)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return perm

    def index(self, name: str) -> int:
        """Joint id of ``name``; raises ``KeyError`` naming the known joints."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown joint {name!r}; known: {', '.join(self.names)}") from None


H36M_17 = Skeleton(
    names=(
        "hip", "rhip", "rknee", "rankle", "lhip", "lknee", "lankle",
        "spine", "thorax", "neck", "head",
        "lshoulder", "lelbow", "lwrist", "rshoulder", "relbow", "rwrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
)
"""The default skeleton (K = 17). Joint 0 (``hip``) is the pelvis and the origin of root-relative poses."""

JOINT_NAMES: tuple[str, ...] = H36M_17.names
NUM_JOINTS: int = H36M_17.num_joints

CORE_JOINTS: tuple[int, ...] = tuple(H36M_17.index(n) for n in (
    "rhip", "rknee", "rankle", "lhip", "lknee", "lankle", "lshoulder", "lelbow", "lwrist",
    "rshoulder", "relbow", "rwrist"))
"""The 12 joints every 2D model has (hips, knees, ankles, shoulders, elbows, wrists): PCK and ``detected`` read them."""
