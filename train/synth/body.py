"""Realistic bodies: the ``anny`` parametric model (MakeHuman data, Apache-2.0/CC0, offline), posed and
mapped to the 17 Human3.6M joints.

anny conventions (checked numerically): metres, z up, the rest body faces -y, its ``.L`` bones are the
subject's left (+x), the origin is the pelvis. A pose is one axis-angle per bone in the ``local-ref``
parameterisation: a rotation about the bone's head in world-aligned rest axes, composed down the
chain; the root's is the body's world orientation. So about +x: thighs swing back (foot to +y) for a
positive angle, the trunk pitches forward for a positive angle.

Joint mapping (bone heads unless said): hip = mean of ``upperleg01.L/.R``; r/l hip = ``upperleg01``;
knee = ``lowerleg01``; ankle = ``foot``; spine = ``spine02``; thorax = ``neck01``; neck = ``head``
(the head bone starts at nose height, as H36M's neck/nose joint); head = vertex 881 (the top of the
skull for every phenotype tried); shoulder = ``upperarm01``; elbow = ``lowerarm01``; wrist = ``wrist``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tvstream.skeleton import H36M_17

log = logging.getLogger(__name__)

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
HEAD_TOP_VERTEX = 881
_JOINT_BONES = {
    "rhip": "upperleg01.R", "rknee": "lowerleg01.R", "rankle": "foot.R",
    "lhip": "upperleg01.L", "lknee": "lowerleg01.L", "lankle": "foot.L",
    "spine": "spine02", "thorax": "neck01", "neck": "head",
    "lshoulder": "upperarm01.L", "lelbow": "lowerarm01.L", "lwrist": "wrist.L",
    "rshoulder": "upperarm01.R", "relbow": "lowerarm01.R", "rwrist": "wrist.R",
}
# Body regions for painting clothes, from the bone that dominates each vertex's skinning weights.
REGIONS = ("torso", "arms", "hands", "legs", "feet", "head")


def _region_of(bone: str) -> str:
    if bone == "root" or bone.startswith(("pelvis", "spine", "clavicle", "shoulder", "breast")):
        return "torso"
    if bone.startswith(("upperarm", "lowerarm")):
        return "arms"
    if bone.startswith(("wrist", "finger", "metacarpal")):
        return "hands"
    if bone.startswith(("upperleg", "lowerleg")):
        return "legs"
    if bone.startswith(("foot", "toe")):
        return "feet"
    return "head"


@dataclass(frozen=True)
class Phenotype:
    """anny's body shape parameters, each in [0, 1] (gender 0 = male; age 2/3 = young adult)."""

    gender: float = 0.5
    age: float = 0.67
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5

    @staticmethod
    def sample(rng: np.random.Generator) -> Phenotype:
        """A random adult athlete (ages 18-45ish, lean to average weight, any height and gender)."""
        return Phenotype(gender=float(rng.uniform(0, 1)), age=float(rng.uniform(0.6, 0.8)),
                         muscle=float(rng.uniform(0.4, 0.9)), weight=float(rng.uniform(0.25, 0.6)),
                         height=float(rng.uniform(0.2, 0.9)), proportions=float(rng.uniform(0.3, 0.8)))


class BodyModel:
    """anny posed in batches: bone rotations -> vertices ``(B, V, 3)`` and H36M joints ``(B, 17, 3)`` (metres).

    Args:
        cache_dir: where anny keeps its built model data (~0.8 GB, ~60 s to build the first time);
            default ``$ANNY_CACHE_DIR`` or anny's own (``~/.cache/anny``).
    """

    def __init__(self, cache_dir: str | os.PathLike | None = None) -> None:
        import torch

        if cache_dir is not None:
            os.environ["ANNY_CACHE_DIR"] = str(Path(cache_dir))
        import anny  # heavy (torch + model data): only where bodies are made

        self._torch = torch
        # plain LBS: no warp kernels to compile, no CUDA probing; ~1.6 ms/frame in batches of 16 here
        self.model = anny.Anny(skinning_method="lbs").to(torch.float32)
        self.bone_names: list[str] = list(self.model.bone_labels)
        self.bone_index = {n: i for i, n in enumerate(self.bone_names)}
        self.bone_parents = np.asarray(self.model.bone_parents, dtype=np.int64)
        self.faces = np.asarray(self.model.faces, dtype=np.int64)  # (F, 3) triangles
        self.num_bones = len(self.bone_names)
        self.vertex_region = self._vertex_regions()  # (V,) index into REGIONS
        self._joint_idx = [self.bone_index[_JOINT_BONES[n]] for n in H36M_17.names if n not in ("hip", "head")]

    def _vertex_regions(self) -> np.ndarray:
        torch = self._torch
        weights, bones = self.model.vertex_bone_weights, self.model.vertex_bone_indices  # (V, 9)
        bone_region = torch.tensor([REGIONS.index(_region_of(b)) for b in self.bone_names])
        per_region = torch.zeros(len(weights), len(REGIONS), dtype=weights.dtype)
        dense = torch.zeros(len(weights), self.num_bones, dtype=weights.dtype).scatter_add_(1, bones, weights)
        per_region.index_add_(1, bone_region, dense)  # (V, regions): summed weight per region
        return per_region.argmax(1).numpy()

    def pose(self, phenotype: Phenotype, rotvecs: np.ndarray, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Vertices ``(T, V, 3)`` and joints ``(T, 17, 3)`` in metres, pelvis-centred, for ``rotvecs (T, bones, 3)``.

        ``rotvecs[:, 0]`` (the root) orients the whole body; translation is left to the caller.
        """
        torch = self._torch
        import roma

        if rotvecs.ndim != 3 or rotvecs.shape[1:] != (self.num_bones, 3):
            raise ValueError(f"rotvecs must be (T, {self.num_bones}, 3), got {rotvecs.shape}")
        verts, joints = [], []
        pheno = {k: float(getattr(phenotype, k)) for k in PHENOTYPES}
        with torch.no_grad():
            for start in range(0, len(rotvecs), batch):
                rv = torch.as_tensor(rotvecs[start:start + batch], dtype=torch.float32)
                pose = torch.eye(4).repeat(len(rv), self.num_bones, 1, 1)  # (B, bones, 4, 4)
                pose[..., :3, :3] = roma.rotvec_to_rotmat(rv)
                out = self.model(pose_parameters=pose, phenotype_kwargs=pheno)
                heads = out["bone_poses"][..., :3, 3]  # (B, bones, 3) world bone heads
                v = out["vertices"]  # (B, V, 3)
                hip = 0.5 * (heads[:, self.bone_index["upperleg01.L"]] + heads[:, self.bone_index["upperleg01.R"]])
                j = torch.cat([hip[:, None], heads[:, self._joint_idx]], dim=1)  # (B, 16, 3)
                j = torch.cat([j[:, :10], v[:, HEAD_TOP_VERTEX][:, None], j[:, 10:]], dim=1)  # head top at index 10
                verts.append(v.numpy())
                joints.append(j.numpy())
        return np.concatenate(verts), np.concatenate(joints)

    def rest_bone_heads(self) -> np.ndarray:
        """Bone heads ``(bones, 3)`` of the average body in its rest pose (for retargeting)."""
        torch = self._torch
        with torch.no_grad():
            return self.model(phenotype_kwargs={})["bone_poses"][0, :, :3, 3].numpy().astype(np.float64)

    def zero_pose(self, frames: int) -> np.ndarray:
        """Rest (A-pose) rotations ``(frames, bones, 3)`` to fill in."""
        return np.zeros((frames, self.num_bones, 3), dtype=np.float64)
