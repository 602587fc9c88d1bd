"""MediaPipe peer accuracy: the landmark mapping onto H36M and the PCK scoring (no MediaPipe needed), and one
worker run on the sample clip where the MediaPipe venv exists."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.peer_accuracy import MP_LANDMARK, score_clip, summarise, to_h36m
from tvstream.labels import VideoLabels, load_any_labels
from tvstream.skeleton import CORE_JOINTS, H36M_17

ROOT = Path(__file__).resolve().parent.parent
MP_PYTHON = ROOT / ".mpvenv" / "bin" / "python"


def _landmarks(n: int) -> np.ndarray:
    """(n, 33, 3) landmarks whose x encodes the landmark id and y the frame, visibility 1."""
    marks = np.ones((n, 33, 3), np.float32)
    marks[..., 0] = np.arange(33)[None, :] * 10.0
    marks[..., 1] = np.arange(n)[:, None] * 100.0
    return marks


def _labels(joints2d: np.ndarray, frames: np.ndarray) -> VideoLabels:
    n = len(frames)
    return VideoLabels(frames=frames, joints3d=np.full((n, 17, 3), np.nan, np.float32), joints2d=joints2d,
                       box=np.zeros((n, 4), np.float32), visible=np.ones((n, 17), bool))


def _torso(n: int) -> np.ndarray:
    """(n, 17, 2) labeled joints: a 100 x 100 px torso (diagonal 141 px), every other joint at the origin."""
    j = np.zeros((n, 17, 2), np.float32)
    for name, xy in {"lshoulder": (100, 0), "rshoulder": (0, 0), "lhip": (100, 100), "rhip": (0, 100)}.items():
        j[:, H36M_17.index(name)] = xy
    return j


def test_mapping_puts_subject_left_landmarks_on_h36m_left_joints():
    out = to_h36m(_landmarks(2))
    assert out.shape == (2, 17, 2)
    assert out[0, H36M_17.index("lhip"), 0] == 230  # MediaPipe 23: left hip
    assert out[0, H36M_17.index("rwrist"), 0] == 160  # MediaPipe 16: right wrist
    assert out[1, H36M_17.index("lankle"), 1] == 100
    assert sorted(H36M_17.index(n) for n in MP_LANDMARK) == sorted(CORE_JOINTS)
    assert np.isnan(out[:, H36M_17.index("head")]).all()  # not a core joint: left unmapped


def test_mapping_rejects_a_wrong_landmark_count():
    with pytest.raises(ValueError, match="33"):
        to_h36m(np.zeros((2, 17, 3)))


def test_exact_landmarks_score_every_core_joint_and_a_missed_frame_scores_none():
    target = _torso(3)
    marks = np.full((3, 33, 3), np.nan, np.float32)
    for name, i in MP_LANDMARK.items():
        marks[:2, i, :2] = target[:2, H36M_17.index(name)]
    marks[1, MP_LANDMARK["lwrist"], :2] += 29  # 41 px off: over 0.2 x 141 = 28 px
    part = score_clip(np.arange(3), marks, _labels(target, np.arange(3)))  # frame 2: no person (all NaN)
    assert part["counted"].tolist() == [12, 12, 12]
    assert part["hits"].tolist() == [12, 11, 0]
    assert part["found"].tolist() == [True, True, False]
    row = summarise([part])
    assert row["frames"] == 3 and row["found"] == pytest.approx(2 / 3) and row["pck"] == pytest.approx(23 / 36)


def test_labeled_frames_the_worker_did_not_reach_are_left_out():
    target = _torso(3)
    marks = np.zeros((2, 33, 3), np.float32)
    for name, i in MP_LANDMARK.items():
        marks[:, i, :2] = target[0, H36M_17.index(name)]
    part = score_clip(np.array([4, 5]), marks, _labels(target, np.array([0, 5, 9])))  # only frame 5 overlaps
    assert part["hits"].tolist() == [12] and part["found"].tolist() == [True]


@pytest.mark.skipif(not MP_PYTHON.is_file(), reason="no MediaPipe venv at .mpvenv (made by benchmarks.peer_mediapipe)")
def test_worker_writes_source_pixel_landmarks_for_every_frame(tmp_path):
    out = tmp_path / "marks.npz"
    proc = subprocess.run([MP_PYTHON, ROOT / "benchmarks" / "mediapipe_worker.py", ROOT / "examples" / "sample_ski.mp4",
                           "--landmarks", out, "--frames", "10"], capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    with np.load(out) as d:
        frames, marks = d["frames"], d["landmarks"]
    assert info["frames"] == 10 and frames.tolist() == list(range(10)) and marks.shape == (10, 33, 3)
    found = np.isfinite(marks[:, 0, 0])
    assert found.sum() == info["found"] > 0
    # source pixels of the 640x360 clip (not MediaPipe's 0..1): the hips' midpoint lies in the labeled box
    box = load_any_labels(ROOT / "examples" / "sample_ski.npz").box[:10][found]  # (n, 4) px
    hips = marks[found][:, [23, 24], :2].mean(axis=1)  # (n, 2)
    assert ((hips >= box[:, :2]) & (hips <= box[:, 2:])).all()
