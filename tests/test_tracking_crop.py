"""The crop that follows the athlete: frame t's confident joints place frame t + 1's crop (the track input).

A bright rectangle moves across a dark 128 x 72 clip; a fake backend "sees" only what its crop covers (the
track box when ``use`` is 1, else the whole frame, as a detector) and puts 17 joints over that part of the
rectangle, with a scripted confidence per call.
"""

from __future__ import annotations

import numpy as np
import pytest

from engines.metadata import ModelMetadata
from tvstream.frame_fit import FrameFit
from tvstream.pipeline import RunOptions, estimate, is_detected
from tvstream.sources import Frame
from tvstream.tracking import CORE_JOINTS, JointTracker, core_confidence

H, W, K = 72, 128, 17
FX = np.linspace(0.0, 1.0, K)  # where each joint sits across the visible rectangle
FY = (np.arange(K) * 7 % K) / (K - 1)  # a permutation of 0..1, so the joints span the rectangle's height


MARGIN = 1.25  # the pose network's box_margin (train/posenet/config.py)


def rect(t: int) -> tuple[int, int, int, int]:
    """The 'person' in frame t: first and last pixel column and row (inclusive); 3 px right per frame."""
    return 20 + 3 * t, 16, 35 + 3 * t, 55


class MovingRectangle:
    """A source of ``n`` frames at the model's size (source pixels = model pixels)."""

    width, height, fps, uri = W, H, 25.0, "rect"
    fit = FrameFit.of((H, W), (H, W))  # frames at the model's size

    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self, stop=None):
        for t in range(self.n):
            image = np.full((H, W, 3), 20, np.uint8)
            x0, y0, x1, y1 = rect(t)
            image[y0:y1 + 1, x0:x1 + 1] = 230
            yield Frame(t, t / 25, image)


class CropBackend:
    """A pose network stand-in whose outputs are a function of the frames and the track input."""

    name = "fake"

    def __init__(self, conf_of_call: dict[int, float] | None = None, inputs=("frames", "track")) -> None:
        outputs = ("box", "pose3d", "pose2d", "conf") if "track" in inputs else ("box", "pose3d", "pose2d")
        self.metadata = ModelMetadata(input_size=(H, W), outputs=outputs, inputs=inputs)
        self.conf_of_call = conf_of_call or {}
        self.fed: list[np.ndarray | None] = []  # the track of each call (None: not passed)

    def infer(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        self.fed.append(None if track is None else track.copy())
        n = len(frames)
        rows = np.zeros((n, 5), np.float32) if track is None else track
        out = {"box": np.zeros((n, 4), np.float32), "pose3d": np.zeros((n, K, 3), np.float32),
               "pose2d": np.zeros((n, K, 2), np.float32), "conf": np.zeros((n, K), np.float32)}
        for i in range(n):
            bright = frames[i, ..., 0] > 128  # (H, W)
            if rows[i, 0] == 1:  # the crop around the track box, as the graph cuts it: see nothing outside it
                c, h = rows[i, 1:3], rows[i, 3:5]
                side = MARGIN * max(h[0] * W, h[1] * H)  # a square of 1.25 x the box's longer side, in pixels
                h = np.array([side / W, side / H])
                x0, y0 = (c - h + 1) * [W / 2, H / 2]
                x1, y1 = (c + h + 1) * [W / 2, H / 2]
                ys, xs = np.mgrid[:H, :W] + 0.5  # pixel centres in edge coordinates
                bright &= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
                out["box"][i] = [x0, y0, x1, y1]
            ys, xs = np.nonzero(bright)
            lo, hi = np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()])
            if rows[i, 0] == 0:  # the detector's box: the rectangle's pixel edges
                out["box"][i] = [*lo, *(hi + 1)]
            out["pose2d"][i] = lo + (hi - lo) * np.stack([FX, FY], axis=1)  # (K, 2) pixel centres
            out["conf"][i] = self.conf_of_call.get(len(self.fed) - 1, 0.9)
        if "conf" not in self.metadata.outputs:
            del out["conf"]
        return out


class FramesOnlyBackend(CropBackend):
    """An old-kind model: no track input, no conf output, and an ``infer`` that takes frames alone."""

    def __init__(self) -> None:
        super().__init__(inputs=("frames",))

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:  # type: ignore[override]
        return super().infer(frames)


def expected_track(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """[1, cx, cy, hx, hy] of joints spanning pixel centres x0..x1, y0..y1: the extent x 1.1 (the default grow)."""
    return [1.0, (x0 + x1 + 1) / W - 1, (y0 + y1 + 1) / H - 1, (x1 - x0) / W * 1.1, (y1 - y0) / H * 1.1]


def test_next_crop_follows_this_frame_s_joints_and_a_weak_frame_brings_the_detector_back():
    # frame 4: conf 0.03, not detected (< 0.05); frame 6: conf 0.4, detected but too weak to track (< 0.8)
    backend = CropBackend({4: 0.03, 6: 0.4})  # the tracker alone: no second read of a detector frame (test_reread)
    records = list(estimate(MovingRectangle(8), backend, RunOptions(smooth=False, reread=False)))
    assert [r.detected for r in records] == [True, True, True, True, False, True, True, True]
    assert all(len(track) == 1 for track in backend.fed)  # batch 1: one row per call
    uses = [float(track[0, 0]) for track in backend.fed]
    assert uses == [0, 1, 1, 1, 1, 0, 1, 0]  # detector first, after the failed frame 4 and the weak frame 6
    np.testing.assert_allclose(backend.fed[1][0], [1.0, -0.5625, 0.0, 0.128906, 0.595833], atol=1e-5)
    for t in (1, 2, 3, 4, 6):  # each tracked crop comes from the previous frame's joints
        prev = records[t - 1].pose2d  # (K, 2); source pixels = model pixels here
        np.testing.assert_allclose(backend.fed[t][0], expected_track(*prev.min(axis=0), *prev.max(axis=0)),
                                   atol=1e-5)
        np.testing.assert_allclose(records[t].pose2d.min(axis=0), rect(t)[:2])  # the crop still holds the
        np.testing.assert_allclose(records[t].pose2d.max(axis=0), rect(t)[2:])  # whole moved rectangle
    np.testing.assert_allclose(records[4].conf, 0.03)
    np.testing.assert_allclose(records[6].conf, 0.4)
    assert records[4].to_dict()["conf"] is None and records[6].to_dict()["conf"] == [0.4] * K


@pytest.mark.parametrize("keep, uses", [(0.7, [0, 1, 1, 1, 1, 1, 0, 1]), (0.8, [0, 1, 1, 0, 1, 1, 0, 1])])
def test_a_following_crop_keeps_following_while_reads_stay_at_track_keep(keep, uses):
    """Hysteresis: the crop starts following on a read at track_conf (0.8) and keeps following on reads at
    track_keep; frame 0's 0.75 (a detector frame) does not start it, frame 2's 0.75 keeps it at 0.7 and hands
    frame 3 to the detector at 0.8, frame 5's 0.65 hands frame 6 to the detector either way."""
    backend = CropBackend({2: 0.75, 5: 0.65})
    list(estimate(MovingRectangle(8), backend, RunOptions(smooth=False, reread=False, track_keep=keep)))
    assert [float(track[0, 0]) for track in backend.fed] == uses
    backend = CropBackend({0: 0.75})  # a detector frame's read at 0.75 does not start following
    list(estimate(MovingRectangle(3), backend, RunOptions(smooth=False, reread=False)))
    assert [float(track[0, 0]) for track in backend.fed] == [0, 0, 1]


def test_with_someone_near_a_read_under_min_conf_hands_the_crop_back():
    """``JointTracker.update(alone=False)``: the athlete tracker sees someone near the athlete; the crop keeps
    following only on a read at ``min_conf`` (a crop following 0.7-0.8 reads drifts onto a passer-by)."""
    pose2d, sure, fair = np.tile([[40.0, 30.0]], (K, 1)), np.full(K, 0.9), np.full(K, 0.75)
    pose2d[:8] = [[30.0, 20.0]]
    for alone, follows in ((True, True), (False, False)):
        tracker = JointTracker((H, W), min_conf=0.8, keep_conf=0.7)
        tracker.update(pose2d, fair, detected=True)
        assert tracker.track()[0] == 0  # 0.75 does not start following ...
        tracker.update(pose2d, sure, detected=True)
        assert tracker.track()[0] == 1  # ... 0.9 does
        tracker.update(pose2d, fair, detected=True, alone=alone)
        assert bool(tracker.track()[0] == 1) is follows  # 0.75 keeps it only with nobody near


def test_a_crop_placed_from_joints_keeps_at_least_track_shrink_of_the_last_frame_s():
    """``JointTracker(shrink=0.9)``: a sure read spanning 40 x 30 px places a crop 44 px on its longer side; the
    next frame's read spans 20 x 10 px (a person half hidden, read as the part in view): its crop (22 x 11 px)
    grows about its own centre to 0.9 x 44 = 39.6 px on its longer side, both sides alike, for the next frame and
    for a detector frame's second read (``place``). No floor after an unsure read, a frame not detected, or a new
    shot; none at shrink 0 (the run's default)."""
    big, small = np.tile([[30.0, 20.0]], (K, 1)), np.tile([[40.0, 30.0]], (K, 1))
    big[:8], small[:8] = [[70.0, 50.0]], [[60.0, 40.0]]
    sure, unsure = np.full(K, 0.9), np.full(K, 0.6)
    tracker = JointTracker((H, W), min_conf=0.8, keep_conf=0.7, shrink=0.9)
    tracker.update(big, sure, detected=True)
    np.testing.assert_allclose(tracker.track(), expected_track(30, 20, 70, 50), atol=1e-6)
    grown = np.array(expected_track(40, 30, 60, 40)) * [1, 1, 1, 39.6 / 22, 39.6 / 22]
    np.testing.assert_allclose(tracker.place(small, sure), grown, atol=1e-6)  # a second read's crop
    tracker.update(small, sure, detected=True)
    np.testing.assert_allclose(tracker.track(), grown, atol=1e-6)  # the next frame's
    np.testing.assert_allclose(tracker.last_row(), expected_track(40, 30, 60, 40), atol=1e-6)  # the read's own
    # ... and the frame after: 0.9 x 39.6 = 35.64 px
    np.testing.assert_allclose(tracker.place(small, sure)[3], 35.64 / W, atol=1e-6)
    point = np.tile([[50.0, 35.0]], (K, 1))  # the sure joints at one pixel: a square of 0.9 x 39.6 px
    np.testing.assert_allclose(tracker.place(point, sure)[3:], [35.64 / W, 35.64 / H], atol=1e-6)
    fair = np.full(K, 0.75)  # under min_conf 0.8: the detector places the next crop, and the floor holds
    tracker.forget()
    tracker.update(big, fair, detected=True)
    assert tracker.track()[0] == 0
    np.testing.assert_allclose(tracker.place(small, sure), grown, atol=1e-6)
    for lose in ("unsure", "not detected", "new shot"):
        tracker.update(big, sure, detected=True)
        if lose == "new shot":
            tracker.forget()
        else:
            tracker.update(big, unsure if lose == "unsure" else sure, detected=lose == "unsure")
        np.testing.assert_allclose(tracker.place(small, sure), expected_track(40, 30, 60, 40), atol=1e-6)
    free = JointTracker((H, W), min_conf=0.8, keep_conf=0.7)
    free.update(big, sure, detected=True)
    free.update(small, sure, detected=True)
    np.testing.assert_allclose(free.track(), expected_track(40, 30, 60, 40), atol=1e-6)


def test_track_keep_is_checked():
    with pytest.raises(ValueError, match="track_keep"):
        RunOptions(track_keep=1.5)
    with pytest.raises(ValueError, match="track_shrink"):
        RunOptions(track_shrink=1.5)
    with pytest.raises(ValueError, match="shrink"):
        JointTracker((H, W), shrink=-0.5)
    with pytest.raises(ValueError, match="keep_conf"):
        JointTracker((H, W), min_conf=0.5, keep_conf=0.6)


@pytest.mark.parametrize("options", [RunOptions(batch=2, smooth=False), RunOptions(track=False, smooth=False)])
def test_batches_and_no_track_leave_every_crop_to_the_detector(options):
    """Every row has use 0; its box names where a person detector looks: the square around the picture (here
    the whole 128 x 72 frame: a 128 px square, half-sizes 1 and 128/72)."""
    backend = CropBackend()
    records = list(estimate(MovingRectangle(6), backend, options))
    assert len(records) == 6 and all(r.detected for r in records)
    assert len(backend.fed) == 6 // options.batch
    for track in backend.fed:
        np.testing.assert_allclose(track, [[0, 0, 0, 1, W / H]] * options.batch, rtol=1e-6)


def test_a_detector_frame_names_the_square_around_a_portrait_picture():
    """A 9:16 source sits 40.5 px wide in the 128 x 72 frame: its detector frames name the 72 px square around
    it (MediaPipe's letterbox); followed frames keep their crop's box."""

    class Portrait(MovingRectangle):
        fit = FrameFit.of((1280, 720), (H, W))  # content 72 x 40 at x = 44: centred, side 72

    backend = CropBackend({2: 0.4})
    list(estimate(Portrait(5), backend, RunOptions(smooth=False, reread=False)))
    uses = [float(track[0, 0]) for track in backend.fed]
    assert uses == [0, 1, 1, 0, 1]
    for t in (0, 3):
        np.testing.assert_allclose(backend.fed[t][0], [0, 0, 0, H / W, 1], atol=1e-6)


def test_frames_only_model_gets_no_track_and_writes_no_conf():
    records = list(estimate(MovingRectangle(5), FramesOnlyBackend(), RunOptions(smooth=False)))
    assert all(r.detected and r.conf is None for r in records)
    assert "conf" not in records[0].to_dict()


def test_tracker_leaves_unsure_joints_out_of_the_box_and_resets_on_a_failed_frame():
    tracker = JointTracker((H, W))
    pose2d = np.tile([[40.0, 30.0]], (K, 1))
    pose2d[:8] = [[30.0, 20.0]]
    pose2d[-1] = [120.0, 70.0]  # far away, but unsure: not part of the box
    conf = np.full(K, 0.8)
    conf[-1] = 0.2
    tracker.update(pose2d, conf, detected=True)
    np.testing.assert_allclose(tracker.track(), expected_track(30, 20, 40, 30), atol=1e-6)
    assert tracker.track().dtype == np.float32
    np.testing.assert_array_equal(tracker.last_row(), tracker.track())  # the last read's row, made when asked
    tracker.update(pose2d, conf, detected=False)
    assert (tracker.track() == 0).all() and tracker.last_row() is None and tracker.last_core == 0.0
    tracker.update(pose2d, np.full(K, 0.45), detected=True)  # detected, but below track_conf 0.5
    assert (tracker.track() == 0).all()
    # ... its row is still there for a read on the last crop (RunOptions.hold_read), every joint in it
    np.testing.assert_allclose(tracker.last_row(), expected_track(30, 20, 120, 70), atol=1e-6)
    assert tracker.last_core == pytest.approx(0.45)


def test_detected_needs_the_core_joints_mean_confidence_and_the_foreground_score():
    assert len(CORE_JOINTS) == 12 and 0 not in CORE_JOINTS  # hips, knees, ankles, shoulders, elbows, wrists
    conf = np.ones(K)  # pelvis, spine, thorax, neck and head sure ...
    conf[list(CORE_JOINTS)] = 0.03  # ... limbs not: no person
    assert core_confidence(conf) == pytest.approx(0.03)
    options = RunOptions()
    assert options.min_conf == 0.05
    assert not is_detected(0.9, conf, options)
    conf[list(CORE_JOINTS)[:6]] = 0.08  # legs 0.08, arms 0.03: mean 0.055
    assert is_detected(0.9, conf, options) and not is_detected(0.04, conf, options)
    assert is_detected(0.9, None, options)  # a model without confidence: the foreground score alone
    assert not is_detected(0.9, conf, RunOptions(min_conf=0.06))
