"""MediaPipe's person detector as the pose network's second detector (``train/pretrained/blazepose_detector.py``):
its SSD decoding on hand-made maps, how ``PoseNet`` combines it with boxnet, and (where the teacher venv holds
``pose_detection.tflite``) the real network on the sample clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from train.pretrained.blazepose_detector import BlazePoseDetector
from train.posenet.config import PoseNetConfig
from train.posenet.model import PoseNet
from tvstream.candidates import find_people

ROOT = Path(__file__).resolve().parent.parent
TFLITE_DIR = ROOT / ".mpvenv/lib/python3.11/site-packages/mediapipe/modules/pose_detection"


class FakeHeads(nn.Module):
    """The six head maps of a 128 x 224 input (score and box at strides 8, 16, 32), all scores -10 but the
    anchors set by ``put``."""

    def __init__(self) -> None:
        super().__init__()
        self.maps = [torch.zeros(1, c, 128 // s, 224 // s) for s, a in ((8, 2), (16, 2), (32, 6)) for c in (a, 12 * a)]
        for score in self.maps[0::2]:
            score.fill_(-10.0)

    def put(self, level: int, row: int, col: int, anchor: int, logit: float, values: list[float]) -> None:
        self.maps[2 * level][0, anchor, row, col] = logit
        self.maps[2 * level + 1][0, 12 * anchor:12 * anchor + 12, row, col] = torch.tensor(values)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [m.expand(len(x), -1, -1, -1) for m in self.maps]


def _norm(px: float, py: float) -> np.ndarray:
    return np.array([px / 224 * 2 - 1, py / 128 * 2 - 1])


def test_the_best_person_s_hip_and_circle_weighted_with_its_overlapping_anchors():
    """The stride-16 cell (row 3, col 5) has its centre at pixel (88, 56). Its anchor 1 (score 0.95) says: box
    40 x 40 px around (+4, -2), hip at (+6, +10), circle point at (+6, -50): radius 60 px. Its anchor 0 (0.73,
    same box) puts the hip at (+10, +10) and the circle at (+10, -30). An anchor elsewhere does not overlap, one
    that overlaps scores under half the best: neither counts."""
    det = BlazePoseDetector(size=0.8)
    heads = FakeHeads()
    box = [4.0, -2.0, 40.0, 40.0]
    heads.put(1, 3, 5, 1, 3.0, box + [6, 10, 6, -50] + [0] * 4)
    heads.put(1, 3, 5, 0, 1.0, box + [10, 10, 10, -30] + [0] * 4)
    heads.put(0, 1, 1, 0, 2.0, [0, 0, 10, 10, 0, 0, 0, -5] + [0] * 4)  # far away (pixel 12, 12)
    heads.put(2, 1, 2, 3, -0.5, [-72, -46, 40, 40, 0, 0, 0, 0] + [0] * 4)  # overlaps the best box, score 0.38
    det.graph = heads
    (centre, half, logit, turn), = det(torch.zeros(2, 3, 128, 224))
    w1, w0 = 1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(-1.0))
    hip = (w1 * np.array([94.0, 66.0]) + w0 * np.array([98.0, 66.0])) / (w1 + w0)
    circle = (w1 * np.array([94.0, 6.0]) + w0 * np.array([98.0, 26.0])) / (w1 + w0)
    r = np.linalg.norm(circle - hip)
    np.testing.assert_allclose(centre[0].numpy(), _norm(*hip), atol=1e-5)
    np.testing.assert_allclose(half[0].numpy(), [0.8 * r / 112, 0.8 * r / 64], rtol=1e-5)
    assert logit.tolist() == [3.0, 3.0]
    np.testing.assert_allclose(turn.numpy(), [[1.0, 0.0]] * 2, atol=1e-6)  # the circle straight above the hip


def test_a_second_round_finds_the_next_person_whose_box_the_first_does_not_overlap():
    """``people=2``: the first person as one round gives it (the same numbers). The second round's best anchor is
    the best the first's best box overlaps by IoU <= 0.3: the anchor at (88, 56) scoring 0.73 overlaps the first
    (IoU 1) and is passed over for the one at pixel (180, 60), 40 x 40 px, scoring 0.62, whose hip and circle
    points are its own (no other anchor overlaps it). A frame with one person gives a second whose logit is the
    best faint anchor left (-10 here)."""
    det = BlazePoseDetector(size=1.0)
    heads = FakeHeads()
    heads.put(1, 3, 5, 1, 3.0, [4.0, -2.0, 40.0, 40.0] + [6, 10, 6, -50] + [0] * 4)
    heads.put(1, 3, 5, 0, 1.0, [4.0, -2.0, 40.0, 40.0] + [10, 10, 10, -30] + [0] * 4)
    det.graph = heads
    (one,) = det(torch.zeros(1, 3, 128, 224))
    first, alone = det(torch.zeros(1, 3, 128, 224), people=2)
    for a, b in zip(one, first):
        assert torch.equal(a, b)
    assert alone[2].item() == -10.0
    heads.put(1, 3, 11, 0, 0.5, [-4.0, 4.0, 40.0, 40.0] + [0, 20, 0, -40] + [0] * 4)  # cell centre (184, 56)
    first, second = det(torch.zeros(1, 3, 128, 224), people=2)
    for a, b in zip(one, first):
        assert torch.equal(a, b)
    centre, half, logit, turn = second
    assert logit.item() == 0.5
    np.testing.assert_allclose(centre[0].numpy(), _norm(184.0, 76.0), atol=1e-5)
    np.testing.assert_allclose(half[0].numpy(), [60 / 112, 60 / 64], rtol=1e-5)  # radius 60 px
    np.testing.assert_allclose(turn[0].numpy(), [1.0, 0.0], atol=1e-6)


def _posenet_with(persons: list[tuple], people: int = 1) -> PoseNet:
    """A small pose network whose person detector reports ``persons``, best first, each ``(centre, half, logit,
    turn)`` (the same for every frame); MediaPipe's box is taken from 0.7, its other persons from 0.6."""
    cfg = PoseNetConfig(frame_size=(288, 512), detector_width=4, crop_size=32, width=4, up_channels=8,
                        detector="boxnet+blazepose", detector_min_score=0.7, detector_people=people,
                        detector_others_min_score=0.6)
    torch.manual_seed(0)
    net = PoseNet(cfg).eval()

    class Persons(nn.Module):
        def forward(self, x, people=1):
            n = len(x)
            return [(torch.tensor([c]).expand(n, 2), torch.tensor([h]).expand(n, 2), torch.full((n,), logit),
                     torch.tensor([t]).expand(n, 2)) for c, h, logit, t in persons[:people]]

    net.person_detector = Persons()
    return net


def _posenet_with_person(sure: bool) -> PoseNet:
    """One person at (0.3, -0.2), half-size (0.1, 0.3), scoring 0.88 (sure) or 0.62 (not, against 0.7), the body
    turned by 36.9 degrees."""
    return _posenet_with([((0.3, -0.2), (0.1, 0.3), 2.0 if sure else 0.5, (0.8, 0.6))])


def _posenet_with_people(second: float, at: tuple[float, float] = (-0.5, 0.1), people: int = 2) -> PoseNet:
    """A sure person at (0.3, -0.2), half-size (0.3, 0.6) (score 0.88), and a second at ``at``, half-size (0.25,
    0.55), with logit ``second``; both upright."""
    return _posenet_with([((0.3, -0.2), (0.3, 0.6), 2.0, (1.0, 0.0)), (at, (0.25, 0.55), second, (1.0, 0.0))], people)


def test_a_second_person_the_detector_is_sure_of_is_a_peak_of_the_map_and_the_box_stays_the_first_s():
    """``detector_people`` 2: a second person scoring >= ``detector_others_min_score`` (0.6) is a peak of the map
    where it stands, with its size, beside the first's, even where each stands in the other's box; the box (and
    the crop) stay the first person's. Scoring under it (0.5 < 0.6), the map is the one person's map, as with
    ``detector_people`` 1."""
    frames = torch.rand(1, 3, 288, 512)
    with torch.no_grad():
        one = _posenet_with_people(0.0, people=1).detect_frames(frames)
        faint = _posenet_with_people(0.0).detect_frames(frames)  # sigmoid(0) = 0.5
        two = _posenet_with_people(1.0).detect_frames(frames)  # 0.73
        inside = _posenet_with_people(1.0, at=(0.05, 0.35)).detect_frames(frames)
    for a, b in zip(one, faint):
        assert torch.equal(a, b)
    for a, b in zip(one, two):
        if a.dim() == 2:  # the box and turn: the first person's
            assert torch.equal(a, b)
    people = find_people(two[2][0].numpy())
    assert len(people) == 2 and all(p.score == pytest.approx(20.0, abs=0.5) for p in people)
    np.testing.assert_allclose(people[0].centre, [0.3, -0.2], atol=0.07)
    np.testing.assert_allclose(people[0].half, [0.3, 0.6], rtol=1e-5)
    np.testing.assert_allclose(people[1].centre, [-0.5, 0.1], atol=0.07)
    np.testing.assert_allclose(people[1].half, [0.25, 0.55], rtol=1e-5)
    # 2 cells left and 2.5 cells down of the first: each in the other's box, and the first's peak stays
    near = find_people(inside[2][0].numpy())
    assert len(near) == 2
    np.testing.assert_allclose([near[0].centre, near[1].centre], [[0.3, -0.2], [0.05, 0.35]], atol=0.07)
    np.testing.assert_allclose([near[0].half, near[1].half], [[0.3, 0.6], [0.25, 0.55]], rtol=1e-5)


def test_a_sure_person_replaces_boxnet_s_box_and_map_and_an_unsure_one_does_not():
    frames = torch.rand(2, 3, 288, 512)
    with torch.no_grad():
        own = _posenet_with_person(False).detect(torch.nn.functional.avg_pool2d(frames, 4))
        unsure = _posenet_with_person(False).detect_frames(frames)
        sure = _posenet_with_person(True).detect_frames(frames)
    for a, b in zip(own, unsure):
        assert torch.equal(a, b)
    with torch.no_grad():  # the unsure person is still given to the runtime, with its score
        person = _posenet_with_person(False).detect_frames(frames, person=True)[4]
    np.testing.assert_allclose(person.numpy(), [[1 / (1 + np.exp(-0.5)), 0.3, -0.2, 0.1, 0.3]] * 2, rtol=1e-6)
    assert torch.allclose(sure[0], torch.tensor([[0.3, -0.2]] * 2))
    assert torch.allclose(sure[1], torch.tensor([[0.1, 0.3]] * 2))
    assert torch.allclose(sure[3], torch.tensor([[0.8, 0.6]] * 2))  # the sure person's turn; else upright
    assert torch.equal(unsure[3], torch.tensor([[1.0, 0.0]] * 2))
    people = find_people(sure[2][0].numpy())  # the runtime reads the person back from the map: one, in place
    assert len(people) == 1
    np.testing.assert_allclose(people[0].centre, [0.3, -0.2], atol=0.02)
    np.testing.assert_allclose(people[0].half, [0.1, 0.3], rtol=1e-5)

    # boxnet sees someone else in the top-right corner (logit 15): that person stays, beside MediaPipe's
    net = _posenet_with_person(True)
    centre, half, box_map = net.detect(torch.nn.functional.avg_pool2d(frames, 4))
    box_map = box_map.clone()
    box_map[:, 0, 0, 15], box_map[:, 1:, 0, 15] = 15.0, -1.5
    net.detect = lambda small, pixel_max=1.0: (centre, half, box_map)
    with torch.no_grad():
        both = find_people(net.detect_frames(frames)[2][0].numpy())
    assert len(both) == 2 and both[0].score == pytest.approx(20.0, abs=0.5)
    np.testing.assert_allclose(both[1].half, np.exp([-1.5, -1.5]), rtol=0.05)


def test_a_square_view_shows_the_detector_the_named_square_and_its_person_comes_back_in_frame_units():
    """``person_view="square"``: the detector reads a 224 x 224 view of the square a detector frame's track row
    names (zeros outside the frame), and its person (centre and half-size in the view's units) is mapped back to
    the frame's: centre = view centre + centre * view half-size, half = half * view half-size. A row without a
    view (hx 0) reads the whole frame's width, centred; a tracked row (use 1) does not name a view."""
    net = _posenet_with_person(True)
    net.cfg = PoseNetConfig(**{**net.cfg.to_dict(), "frame_size": (288, 512), "person_view": "square"})
    seen = []
    net.person_detector.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    h, w = 288, 512
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / (w / 2) - 1  # each pixel holds its normalised x
    frames = xs.expand(1, 3, h, w).repeat(3, 1, 1, 1)
    view = torch.tensor([[0.2, 0.1, 0.25, 0.25 * w / h], [0.0, 0.0, 0.0, 0.0], [-0.5, 0.0, 0.5, 0.5 * w / h]])
    track = torch.cat([torch.tensor([[0.0], [0.0], [1.0]]), view], 1)
    with torch.no_grad():
        centre, half, _, _, found = net.detect_frames(frames, person=True, view=view * (track[:, :1] < 0.5))
    small = seen[0]
    assert small.shape == (3, 3, 224, 224)
    # row 0 shows x from -0.05 to 0.45; row 1 (no view) the whole width; row 2 (tracked) reads it too
    np.testing.assert_allclose(small[0, 0, 100, [0, -1]].numpy(), [-0.05, 0.45], atol=0.01)
    np.testing.assert_allclose(small[1, 0, 112, [0, -1]].numpy(), [-1.0, 1.0], atol=0.01)
    assert small[1, 0, 0].abs().max() == 0 and small[1, 0, 112].abs().max() > 0.5  # bars above the 16:9 frame
    np.testing.assert_allclose(small[2].numpy(), small[1].numpy())
    expect = [[0.2 + 0.3 * 0.25, 0.1 - 0.2 * 0.25 * w / h, 0.1 * 0.25, 0.3 * 0.25 * w / h],
              [0.3, -0.2 * w / h, 0.1, 0.3 * w / h]]
    np.testing.assert_allclose(found[:2, 1:].numpy(), expect, rtol=1e-5)
    np.testing.assert_allclose(torch.cat([centre, half], 1)[:2].numpy(), expect, rtol=1e-5)  # sure: its box
    # the whole network takes the view from a detector frame's track row
    seen.clear()
    with torch.no_grad():
        net(frames, track, person=True)
    np.testing.assert_allclose(seen[0][2].numpy(), small[1].numpy())


@pytest.mark.skipif(not (TFLITE_DIR / "pose_detection.tflite").is_file(),
                    reason=f"no pose_detection.tflite in {TFLITE_DIR}")
def test_the_real_detector_finds_the_skier_of_the_sample_clip(monkeypatch):
    """MediaPipe's network, read from its file into the committed structure, puts the skier's hip inside the
    labeled box on the frames where it is sure (score >= 0.5) of a person, and is sure on half of them (0.56
    measured: the skier is rendered)."""
    from tvstream.frame_fit import FrameFit  # noqa: F401  (the source's place in the working frame, below)
    from tvstream.labels import load_any_labels
    from tvstream.sources import VideoSource

    monkeypatch.setenv("TVSTREAM_BLAZEPOSE_DIR", str(TFLITE_DIR))
    det = BlazePoseDetector(size=0.8)
    det.load_tflite()
    sample = ROOT / "examples" / "sample_ski.mp4"
    labels = load_any_labels(sample.with_suffix(".npz"))
    with VideoSource(str(sample), (288, 512)) as source:
        fit, frames = source.fit, list(source.frames())
    rows = {int(f): i for i, f in enumerate(labels.frames)}
    pick = [f for f in range(0, len(frames), 10) if f in rows]
    x = torch.from_numpy(np.stack([frames[f].image for f in pick])).permute(0, 3, 1, 2).float() / 255
    small = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), size=(128, 224), mode="bilinear")
    with torch.no_grad():
        (centre, half, logit, _), = det(small)
    boxes = np.asarray(fit.normalised_boxes(labels.box[[rows[f] for f in pick]]))  # (n, 4) centre, half
    sure = logit.numpy() >= 0
    inside = (np.abs(centre.numpy() - boxes[:, :2]) <= boxes[:, 2:]).all(1)
    assert sure.mean() >= 0.5 and inside[sure].mean() >= 0.9, (sure.mean(), inside[sure].mean())


def test_adding_the_person_detector_keeps_every_trained_weight(tmp_path, monkeypatch):
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.config import SIZES
    from train.posenet.person_detector import add_person_detector
    from tvstream.errors import CheckpointError

    monkeypatch.setattr(BlazePoseDetector, "load_tflite", lambda self, path=None: None)  # no MediaPipe file here
    torch.manual_seed(0)
    cfg = SIZES["tiny"]
    net = PoseNet(cfg)
    ckpt = save_checkpoint(tmp_path / "run" / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}},
                           step=7, model=net)
    new = add_person_detector(ckpt, tmp_path / "mpdet" / "last.pt")
    preset = SIZES["real-lite-mpdet"]
    assert (new.detector, new.detector_box_scale, new.detector_min_score, new.crop_size) == (
        "boxnet+blazepose", preset.detector_box_scale, preset.detector_min_score, cfg.crop_size)
    state = load_checkpoint(tmp_path / "mpdet" / "last.pt")
    assert state["step"] == 7 and state["config"]["model"]["detector"] == "boxnet+blazepose"
    for name, tensor in net.state_dict().items():
        assert torch.equal(state["model"][name], tensor), name
    assert any(k.startswith("person_detector.") for k in state["model"])
    with pytest.raises(CheckpointError, match="already has"):
        add_person_detector(tmp_path / "mpdet" / "last.pt", tmp_path / "again.pt")
