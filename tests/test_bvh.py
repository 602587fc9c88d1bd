"""BVH files as found in the wild: CMU zero-length joints, off-by-one frame counts, unknown joint names."""

import logging

import numpy as np
import pytest

from tvstream.errors import LabelError


def _joint(name, offset, children="", end=None):
    end_site = f"End Site {{ OFFSET {end} }}" if end else ""
    return f" JOINT {name} {{ OFFSET {offset} CHANNELS 3 Zrotation Yrotation Xrotation {children} {end_site} }} "


def _leg(side, x):
    # CMU: LHipJoint sits on the hips (OFFSET 0 0 0) and carries the thigh
    foot = _joint(f"{side}Foot", "0 -7 0", end="0 -1 2")
    leg = _joint(f"{side}Leg", "0 -7 0", foot)
    return _joint(f"{side[0]}HipJoint", "0 0 0", _joint(f"{side}UpLeg", f"{x} -1 0", leg))


def _arm(side, x):
    hand = _joint(f"{side}Hand", f"{x * 4} 0 0", end=f"{x} 0 0")
    fore = _joint(f"{side}ForeArm", f"{x * 5} 0 0", hand)
    return _joint(f"{side}Shoulder", "0 0 0", _joint(f"{side}Arm", f"{x * 3} 1 0", fore))  # zero-length shoulder


# A CMU-like skeleton in inches-ish units (about 17 tall): zero-length LHipJoint, RHipJoint, LowerBack, Neck,
# LeftShoulder and RightShoulder, each mapped or lying between mapped joints
CMU = ("HIERARCHY\nROOT Hips { OFFSET 0 0 0 CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation "
       + _leg("Left", 1.5) + _leg("Right", -1.5)
       + _joint("LowerBack", "0 0 0", _joint("Spine", "0 2 0", _joint("Spine1", "0 2 0",
                _joint("Neck", "0 0 0", _joint("Neck1", "0 1.5 0", _joint("Head", "0 1.5 0", end="0 1.5 0")))
                + _arm("Left", 1) + _arm("Right", -1))))
       + " }\nMOTION\n")
CHANNELS = 6 + 3 * 22  # the root's 6, then 3 for each of the 22 joints


def _cmu_file(tmp_path, rows: int, header_frames: int | None = None, text: str = CMU) -> str:
    rng = np.random.default_rng(0)
    values = rng.uniform(-40, 40, (rows, CHANNELS))
    values[:, :3] = [0, 17, 0]  # root position: standing
    body = "\n".join(" ".join(f"{v:.3f}" for v in row) for row in values)
    path = tmp_path / "cmu.bvh"
    path.write_text(f"{text}Frames: {rows if header_frames is None else header_frames}\nFrame Time: 0.008333\n{body}\n")
    return str(path)


@pytest.fixture(scope="module")
def body():
    pytest.importorskip("anny")
    from train.synth.body import BodyModel

    return BodyModel()


def test_zero_length_cmu_joints_retarget_to_finite_rotations_and_labels(tmp_path, body):
    from train.synth.body import Phenotype
    from train.synth.bvh import load_bvh, retarget

    clip = load_bvh(_cmu_file(tmp_path, 6))
    assert clip.motion.shape == (6, CHANNELS) and clip.fps == pytest.approx(120, rel=1e-3)
    assert np.linalg.norm(clip.offsets[clip.names.index("Neck")]) == 0
    motion = retarget(clip, body.bone_index, body.bone_parents, body.rest_bone_heads())
    assert np.isfinite(motion.rotvecs).all() and np.isfinite(motion.position).all()
    for bone in ("spine02", "neck01", "clavicle.L", "upperarm01.L", "upperleg01.R"):
        assert np.abs(motion.rotvecs[:, body.bone_index[bone]]).max() > 0.05, f"{bone} is not driven"
    verts, joints = body.pose(Phenotype(), motion.rotvecs)
    assert np.isfinite(verts).all() and np.isfinite(joints).all()


@pytest.mark.parametrize("header_frames", [5, 7])
def test_frame_count_one_off_the_data_reads_the_rows_there(tmp_path, body, caplog, header_frames):
    from train.synth.bvh import load_bvh, retarget

    with caplog.at_level(logging.WARNING, logger="train.synth.bvh"):
        clip = load_bvh(_cmu_file(tmp_path, 6, header_frames))
    assert len(clip.motion) == 6
    assert f"header says {header_frames} frames, the data holds 6" in caplog.text
    motion = retarget(clip, body.bone_index, body.bone_parents, body.rest_bone_heads())
    assert motion.rotvecs.shape[0] == 6 and np.isfinite(motion.rotvecs).all()


def test_half_a_frame_of_data_is_still_refused(tmp_path):
    from train.synth.bvh import load_bvh

    path = _cmu_file(tmp_path, 2)
    with open(path, "a") as f:
        f.write("1 2 3\n")
    with pytest.raises(LabelError, match=f"MOTION has {2 * CHANNELS + 3} values, expected 2 frames"):
        load_bvh(path)


def test_unknown_joint_names_are_refused_naming_the_file_and_joints(tmp_path):
    from train.synth.bvh import load_bvh, retarget

    renamed = CMU.replace("LeftUpLeg", "thigh_l").replace("LeftForeArm", "lowerarm_l")
    clip = load_bvh(_cmu_file(tmp_path, 2, text=renamed))
    bone_index = {"root": 0, "upperleg01.L": 1}
    with pytest.raises(LabelError, match=r"cmu\.bvh: unknown BVH joint naming, no joint named LeftUpLeg, LeftForeArm"):
        retarget(clip, bone_index, np.array([-1, 0]), np.zeros((2, 3)))


def test_mixamo_prefixed_names_are_recognised(tmp_path, body):
    from train.synth.bvh import load_bvh, retarget

    prefixed = CMU
    for name in ("Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot", "Spine1",
                 "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand"):
        prefixed = prefixed.replace(f" {name} ", f" mixamorig:{name} ")
    clip = load_bvh(_cmu_file(tmp_path, 3, text=prefixed))
    assert clip.names[0] == "mixamorig:Hips"
    motion = retarget(clip, body.bone_index, body.bone_parents, body.rest_bone_heads())
    assert np.isfinite(motion.rotvecs).all()
    assert np.abs(motion.rotvecs[:, body.bone_index["lowerleg01.L"]]).max() > 0.05
