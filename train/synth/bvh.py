"""BVH motion capture: parse any BVH file and retarget it onto the anny rig by a joint-name mapping.

Retargeting copies *bone directions*, so skeletons with other proportions and rest poses (a T-pose
BVH onto anny's A-pose) still line up: for each mapped bone the rest-pose rotation ``Q`` that turns
anny's bone onto the BVH bone is found once; at every frame anny's global bone rotation is the BVH's
global rotation times ``Q``, and anny's local (``local-ref``) rotation follows from its mapped parent.
BVH axes are y up with the character facing +z (x = its left); anny is z up facing -y.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.synth.rig import Motion
from train.synth.rotations import euler_to_matrix, matrix_to_rotvec, rotation_between
from tvstream.errors import LabelError

log = logging.getLogger(__name__)

BVH_TO_ANNY_AXES = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # columns: images of BVH x, y, z

# CMU / Mixamo-style names -> anny bones (unlisted BVH joints are ignored; unmapped anny bones follow their parent)
DEFAULT_MAPPING = {
    "Hips": "root",
    "LeftUpLeg": "upperleg01.L", "LeftLeg": "lowerleg01.L", "LeftFoot": "foot.L",
    "RightUpLeg": "upperleg01.R", "RightLeg": "lowerleg01.R", "RightFoot": "foot.R",
    "Spine": "spine04", "Spine1": "spine02", "Neck": "neck01", "Head": "head",
    "LeftShoulder": "clavicle.L", "LeftArm": "upperarm01.L", "LeftForeArm": "lowerarm01.L", "LeftHand": "wrist.L",
    "RightShoulder": "clavicle.R", "RightArm": "upperarm01.R", "RightForeArm": "lowerarm01.R",
    "RightHand": "wrist.R",
}
# anny bones a clip must drive: without them the labels would be a statue with a moving pelvis
REQUIRED_BONES = ("root", "upperleg01.L", "lowerleg01.L", "upperleg01.R", "lowerleg01.R",
                  "upperarm01.L", "lowerarm01.L", "upperarm01.R", "lowerarm01.R")
MIN_BONE = 1e-6  # rest bones shorter than this (CMU's LHipJoint, Neck, LeftShoulder: OFFSET 0 0 0) have no direction


@dataclass
class BvhClip:
    """A parsed BVH file: the joint tree (End Sites included as ``<parent>_end``) and its motion channels."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) in the file's units, in the parent's frame
    channels: list[list[str]]  # per joint, e.g. ["Xposition", ..., "Zrotation", "Xrotation", "Yrotation"]
    frame_time: float
    motion: np.ndarray  # (T, total channels)
    path: str = "<bvh>"  # where it was read from, for error messages

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations ``(T, J, 3, 3)`` and positions ``(T, J, 3)`` in BVH axes and units."""
        frames, joints = len(self.motion), len(self.names)
        rot = np.zeros((frames, joints, 3, 3))
        pos = np.zeros((frames, joints, 3))
        col = 0
        for j in range(joints):
            chans = self.channels[j]
            values = self.motion[:, col:col + len(chans)]
            col += len(chans)
            local_t = self.offsets[j] + np.zeros((frames, 3))
            order = "".join(c[0] for c in chans if c.endswith("rotation"))
            angles = np.stack([values[:, i] for i, c in enumerate(chans) if c.endswith("rotation")], -1) \
                if order else np.zeros((frames, 0))
            for i, c in enumerate(chans):
                if c.endswith("position"):
                    local_t[:, "XYZ".index(c[0])] = values[:, i]
            local_r = euler_to_matrix(angles, order) if order else np.broadcast_to(np.eye(3), (frames, 3, 3))
            p = self.parents[j]
            if p < 0:
                rot[:, j], pos[:, j] = local_r, local_t
            else:
                rot[:, j] = rot[:, p] @ local_r
                pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t)
        return rot, pos


def load_bvh(path: str | os.PathLike) -> BvhClip:
    """Parse a BVH file; raises LabelError naming the line's problem."""
    path = Path(path)
    try:
        tokens = path.read_text().split()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot read BVH ({exc})") from None
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = 0

    def expect(word: str) -> None:
        nonlocal i
        if i >= len(tokens) or tokens[i].upper() != word:
            raise LabelError(f"{path}: expected {word!r} at token {i}, got {tokens[i] if i < len(tokens) else 'EOF'!r}")
        i += 1

    expect("HIERARCHY")
    try:
        while tokens[i].upper() != "MOTION":
            word = tokens[i].upper()
            if word in ("ROOT", "JOINT", "END"):
                name = f"{names[stack[-1]]}_end" if word == "END" else tokens[i + 1]
                i += 2
                expect("{")
                expect("OFFSET")
                offsets.append([float(v) for v in tokens[i:i + 3]])
                i += 3
                names.append(name)
                parents.append(stack[-1] if stack else -1)
                chans: list[str] = []
                if word != "END":
                    expect("CHANNELS")
                    n = int(tokens[i])
                    chans = tokens[i + 1:i + 1 + n]
                    i += 1 + n
                channels.append(chans)
                stack.append(len(names) - 1)
            elif word == "}":
                stack.pop()
                i += 1
            else:
                raise LabelError(f"{path}: unexpected {tokens[i]!r} in HIERARCHY")
        expect("MOTION")
        expect("FRAMES:")
        frames = int(tokens[i])
        i += 1
        expect("FRAME")
        expect("TIME:")
        frame_time = float(tokens[i])
        values = np.array(tokens[i + 1:], dtype=float)
    except (IndexError, ValueError) as exc:
        raise LabelError(f"{path}: malformed BVH ({exc})") from None
    total = sum(len(c) for c in channels)
    if total == 0 or values.size == 0 or values.size % total:
        raise LabelError(f"{path}: MOTION has {values.size} values, expected {frames} frames x {total} channels")
    if values.size != frames * total:  # some exporters write a Frames: count one off the data
        log.warning("%s: header says %d frames, the data holds %d; reading %d", path, frames, values.size // total,
                    values.size // total)
        frames = values.size // total
    return BvhClip(names, parents, np.asarray(offsets, float), channels, frame_time, values.reshape(frames, total),
                   str(path))


def retarget(clip: BvhClip, bone_index: dict[str, int], bone_parents: np.ndarray, rest_heads: np.ndarray,
             mapping: dict[str, str] | None = None, units_per_metre: float | None = None) -> Motion:
    """The BVH motion as an anny :class:`Motion` (grounded; the root's horizontal path is kept).

    Args:
        bone_index, bone_parents: the anny rig (``BodyModel.bone_index`` / ``.bone_parents``).
        rest_heads: anny bone heads ``(bones, 3)`` in its rest pose (metres).
        mapping: BVH joint name -> anny bone (default :data:`DEFAULT_MAPPING`); must map the root.
        units_per_metre: BVH length unit; default guesses centimetres when the skeleton is > 10 units tall.
    """
    wanted = mapping or DEFAULT_MAPPING
    index_of = {n.split(":")[-1]: j for j, n in enumerate(clip.names)}  # Mixamo writes "mixamorig:Hips"
    mapping = {k: v for k, v in wanted.items() if k in index_of}
    missing = [k for k, v in wanted.items() if v in REQUIRED_BONES and k not in index_of]
    if missing:
        raise LabelError(f"{clip.path}: unknown BVH joint naming, no joint named {', '.join(missing)} "
                         f"(the file has {', '.join(clip.names[:10])}{', ...' if len(clip.names) > 10 else ''}); "
                         "pass a mapping from its names to anny bones")
    root_name = clip.names[0].split(":")[-1]
    if mapping.get(root_name) != "root":
        raise LabelError(f"BVH root {root_name!r} must map to anny's 'root' (mapping has {mapping.get(root_name)!r})")
    unknown = [b for b in mapping.values() if b not in bone_index]
    if unknown:
        raise LabelError(f"mapping names unknown anny bones: {unknown}")
    C = BVH_TO_ANNY_AXES
    rot, pos = clip.global_transforms()  # BVH axes
    rot = C @ rot @ C.T  # (T, J, 3, 3) in anny axes
    pos = pos @ C.T  # (T, J, 3)
    rest_pos = BvhClip(clip.names, clip.parents, clip.offsets, clip.channels, 1.0,
                       np.zeros((1, clip.motion.shape[1]))).global_transforms()[1][0] @ C.T  # (J, 3) rest
    if units_per_metre is None:
        height = np.ptp(rest_pos[:, 2])
        units_per_metre = 100.0 if height > 10 else 1.0
    anny_of = {index_of[n]: bone_index[b] for n, b in mapping.items()}

    def mapped_child(j: int, origin: int | None = None) -> int | None:
        """The first mapped descendant (or End Site) along the chain that is not where ``j`` is: zero-length
        joints (CMU's Neck at Spine1) are looked through, so the bone takes the direction of the next real one."""
        origin = j if origin is None else origin
        kids = [k for k, p in enumerate(clip.parents) if p == j]
        for k in kids:
            away = np.linalg.norm(rest_pos[k] - rest_pos[origin]) > MIN_BONE
            if away and (k in anny_of or clip.names[k].endswith("_end")):
                return k
        for k in kids:
            found = mapped_child(k, origin)
            if found is not None:
                return found
        return None

    # rest alignment Q per mapped bone: anny rest direction -> BVH rest direction
    Q = {}
    for j, a in anny_of.items():
        c = mapped_child(j)
        if a == 0 or c is None or c not in anny_of or np.linalg.norm(rest_heads[anny_of[c]] - rest_heads[a]) < MIN_BONE:
            Q[a] = np.eye(3)  # no direction to align (the root, a chain's end, or a zero-length anny bone)
            continue
        Q[a] = rotation_between(rest_heads[anny_of[c]] - rest_heads[a], rest_pos[c] - rest_pos[j])

    frames = len(clip.motion)
    rotvecs = np.zeros((frames, len(bone_index), 3))
    global_anny = {a: rot[:, j] @ Q[a] for j, a in anny_of.items()}  # (T, 3, 3) each

    def mapped_ancestor(a: int) -> int | None:
        p = int(bone_parents[a])
        while p >= 0 and p not in global_anny:
            p = int(bone_parents[p])
        return p if p >= 0 else None

    for a, g in global_anny.items():
        parent = mapped_ancestor(a)
        local = g if parent is None else np.swapaxes(global_anny[parent], -1, -2) @ g
        rotvecs[:, a] = matrix_to_rotvec(local)
    root = pos[:, 0] / units_per_metre  # (T, 3) metres
    lift = np.clip(root[:, 2] - np.median(root[:, 2]), 0, None)
    xy = root[:, :2] - root[0, :2]
    return Motion(rotvecs, np.c_[xy, np.zeros(frames)], True, lift, "bvh")


def load_captures(folder: str | os.PathLike, body) -> list[tuple[Motion, float]]:
    """Every ``*.bvh`` in ``folder`` retargeted onto ``body`` (a BodyModel), with its frame rate."""
    folder = Path(folder)
    files = sorted(folder.glob("*.bvh"))
    if not files:
        raise LabelError(f"{folder}: no .bvh files")
    heads = body.rest_bone_heads()
    return [(retarget(clip, body.bone_index, body.bone_parents, heads), clip.fps) for clip in map(load_bvh, files)]


def resample(capture: tuple[Motion, float], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """``frames`` frames at ``fps`` from a random start in a capture (looping it when it is too short)."""
    motion, source_fps = capture
    n = len(motion.rotvecs)
    start = rng.uniform(0, n)
    idx = np.floor(start + np.arange(frames) * source_fps / fps).astype(int) % n  # nearest earlier frame
    return Motion(motion.rotvecs[idx], motion.position[idx] - motion.position[idx[0]], motion.grounded,
                  motion.lift[idx], motion.name)
