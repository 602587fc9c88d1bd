"""The reread (``RunOptions.reread``): a frame whose crop a detector placed is read again on the crop its own
joints place (turned by their lean for a model whose crop turns), and the surer read is kept."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.metadata import ModelMetadata
from tvstream.frame_fit import FrameFit
from tvstream.pipeline import RunOptions, estimate
from tvstream.skeleton import H36M_17
from tvstream.sources import Frame

H, W, K = 64, 128, 17
HIPS = [H36M_17.index("rhip"), H36M_17.index("lhip")]
SHOULDERS = [H36M_17.index("rshoulder"), H36M_17.index("lshoulder")]


def upright_joints() -> np.ndarray:
    """(K, 2) pixels: a body standing between x 22..38 and y 10..54, hips at y 34, shoulders at y 18."""
    joints = np.stack([np.linspace(22, 38, K), np.linspace(10, 54, K)], axis=1)
    joints[HIPS] = [[28, 34], [32, 34]]
    joints[SHOULDERS] = [[26, 18], [34, 18]]
    return joints


def lying_joints() -> np.ndarray:
    """The same body turned a quarter about (64, 32): shoulders to the right of the hips."""
    rel = upright_joints() - [30, 32]
    return np.stack([-rel[:, 1], rel[:, 0]], axis=1) + [64, 32]  # (x, y) -> (-y, x): up (0, -1) becomes (1, 0)


class Body:
    """A fake pose model that always finds ``joints``; its detector places a crop twice the body's size; the head's
    confidence is ``first`` on the detector's crop and ``second`` on any crop the runtime places."""

    name = "fake"

    def __init__(self, joints: np.ndarray, first: float, second: float, turned: bool = False) -> None:
        config = {"kind": "posenet", "model": {"crop_rotation": turned}}
        self.metadata = ModelMetadata(input_size=(H, W), inputs=("frames", "track"),
                                      outputs=("box", "pose3d", "pose2d", "conf"), config=config)
        self.joints, self.first, self.second, self.tracks = joints, first, second, []

    def infer(self, frames, track=None):
        row = track[0]
        self.tracks.append(row.copy())
        lo, hi = self.joints.min(axis=0), self.joints.max(axis=0)
        box = np.concatenate([lo - (hi - lo) / 2, hi + (hi - lo) / 2])
        conf = self.first if row[0] < 0.5 else self.second
        return {"box": box[None].astype(np.float32), "pose3d": np.zeros((1, K, 3), np.float32),
                "pose2d": self.joints[None].astype(np.float32), "conf": np.full((1, K), conf, np.float32)}


class Frames:
    width, height, fps, uri = W, H, 25.0, "frames"
    fit = FrameFit.of((H, W), (H, W))

    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self, stop=None):
        for i in range(self.n):
            yield Frame(i, i / 25, np.zeros((H, W, 3), np.uint8))


def _run(backend: Body, frames: int = 1, **options) -> list:
    return list(estimate(Frames(frames), backend, RunOptions(smooth=False, scenario="ski", **options)))


def test_a_detector_frame_is_read_again_on_its_joints_crop_and_the_surer_read_kept():
    backend = Body(upright_joints(), first=0.4, second=0.6)
    record, = _run(backend)
    assert len(backend.tracks) == 2 and backend.tracks[0][0] == 0
    # the joints' extent x 22..38, y 10..54 grown 1.1: centre (30, 32) px, half 16 / 128 x 1.1 and 44 / 64 x 1.1
    np.testing.assert_allclose(backend.tracks[1], [1, 61 / 128 - 1, 65 / 64 - 1, 0.1375, 0.75625], atol=1e-6)
    assert record.conf.mean() == pytest.approx(0.6)


def test_the_first_read_stays_where_the_second_is_less_sure():
    backend = Body(upright_joints(), first=0.6, second=0.4)
    record, = _run(backend)
    assert len(backend.tracks) == 2
    assert record.conf.mean() == pytest.approx(0.6)


def test_a_turned_model_rereads_a_lying_body_on_a_crop_that_stands_it_up():
    backend = Body(lying_joints(), first=0.4, second=0.6, turned=True)
    _run(backend)
    row = backend.tracks[1]
    assert row.shape == (6,) and row[5] == pytest.approx(math.pi / 2)  # the lean: shoulders right of the hips
    # in the turned axes the extent is the upright body's: 16 px across (normalised by W) and 44 px along (by H)
    np.testing.assert_allclose(row[3:5], [16 / 128 * 1.1, 44 / 64 * 1.1], atol=1e-6)
    np.testing.assert_allclose(row[1:3], [(2 * 64 + 1) / 128 - 1, (2 * 32 + 1) / 64 - 1], atol=1e-6)


def test_tracked_frames_are_read_once_and_reread_off_reads_every_frame_once():
    sure = Body(upright_joints(), first=0.9, second=0.95)
    _run(sure, frames=3)
    assert [t[0] for t in sure.tracks] == [0, 1, 1, 1]  # the detector frame twice, then the followed frames once
    off = Body(upright_joints(), first=0.4, second=0.6)
    _run(off, frames=3, reread=False)
    assert len(off.tracks) == 3 and all(t[0] == 0 for t in off.tracks)


def test_no_reread_without_two_joints_the_tracker_would_use():
    backend = Body(upright_joints(), first=0.2, second=0.6)  # every joint under JointTracker's 0.3
    _run(backend)
    assert len(backend.tracks) == 1


class UpsideDown(Body):
    """A turned fake model whose head is sure (0.9) only on a crop turned half a turn: a diver upside down."""

    def infer(self, frames, track=None):
        out = super().infer(frames, track)
        half_turn = track[0][0] > 0.5 and abs(abs(track[0][5]) - math.pi) < 1e-3
        out["conf"][:] = 0.9 if half_turn else 0.3
        return out


def test_a_turned_model_also_reads_the_crop_turned_half_a_turn_and_keeps_the_surest():
    backend = UpsideDown(upright_joints(), first=0, second=0, turned=True)
    record, = _run(backend)
    assert len(backend.tracks) == 3 and backend.tracks[0][0] == 0  # the detector's crop, then two rereads:
    assert backend.tracks[1][5] == 0 and abs(backend.tracks[2][5]) == pytest.approx(math.pi)  # lean, lean + pi
    np.testing.assert_allclose(backend.tracks[2][:5], backend.tracks[1][:5])  # the same crop, turned
    assert record.conf.mean() == pytest.approx(0.9)
    # a lean read sure enough to follow (track_conf 0.8), no extra turn asked for, or an upright model: one reread
    sure = Body(upright_joints(), first=0.4, second=0.9, turned=True)
    assert _run(sure)[0].conf.mean() == pytest.approx(0.9) and len(sure.tracks) == 2
    once = UpsideDown(upright_joints(), first=0, second=0, turned=True)
    assert _run(once, reread_turns=())[0].conf.mean() == pytest.approx(0.3) and len(once.tracks) == 2
    upright = Body(upright_joints(), first=0.4, second=0.6)
    _run(upright, reread_turns=(90.0, 180.0))
    assert len(upright.tracks) == 2
