"""The crop that turns with the body (``PoseNetConfig.crop_rotation``, MediaPipe's region of interest): the turned
crop, the joints turned back, the tracker's angle, the exported graph and the runtime's track rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from train.models.spatial import crop, turn_points
from train.posenet.config import SIZES, PoseNetConfig
from train.posenet.model import PoseNet
from tvstream.tracking import JointTracker


def _turn(degrees: float) -> torch.Tensor:
    a = np.radians(degrees)
    return torch.tensor([[np.cos(a), np.sin(a)]], dtype=torch.float32)


def test_a_frame_turned_a_quarter_is_cropped_back_upright():
    """A body turned 90 degrees clockwise on screen has its hips-to-shoulders direction pointing right, (1, 0):
    angle atan2(1, -0) = 90 degrees. The crop turned by it is the upright frame, pixel for pixel (a square frame:
    a quarter turn maps pixel centres onto pixel centres); turned by 0 it is the turned frame itself."""
    image = torch.rand(1, 3, 16, 16)
    turned = torch.rot90(image, k=-1, dims=(2, 3))  # clockwise as shown (rows go down)
    whole, centre = torch.ones(1, 2), torch.zeros(1, 2)
    torch.testing.assert_close(crop(turned, whole, centre, 16, _turn(90)), image, atol=1e-5, rtol=0)
    torch.testing.assert_close(crop(turned, whole, centre, 16, _turn(0)), crop(turned, whole, centre, 16))
    torch.testing.assert_close(crop(turned, whole, centre, 16), turned, atol=1e-5, rtol=0)


def test_a_point_of_the_turned_crop_maps_to_where_the_crop_took_it_from():
    """A single bright pixel of a non-square frame, cropped turned by 30 degrees around an off-centre point: the
    crop's brightest pixel, mapped back by ``centre + scale * turn_points(p)``, lands within a crop pixel of the
    frame's; depth (a third coordinate) is kept."""
    h, w, size = 36, 64, 48
    frame = torch.zeros(1, 1, h, w)
    frame[0, 0, 10, 40] = 1.0  # pixel (x 40, y 10)
    centre = torch.tensor([[(2 * 36 + 1) / w - 1, (2 * 14 + 1) / h - 1]])  # pixel (36, 14)
    side = 24.0  # pixels
    scale = torch.tensor([[side / w, side / h]])
    out = crop(frame, scale, centre, size, _turn(30))
    row, col = divmod(int(out.flatten().argmax()), size)
    p = torch.tensor([[[(2 * col + 1) / size - 1, (2 * row + 1) / size - 1, 0.7]]])
    back = turn_points(p, _turn(30))
    assert back[0, 0, 2] == pytest.approx(0.7)
    xy = centre + scale * back[0, :, :2]  # normalised frame coordinates
    px = ((xy + 1) * torch.tensor([w, h]) - 1) / 2
    np.testing.assert_allclose(px[0].numpy(), [40, 10], atol=side / size)  # within a crop pixel


def test_the_tracker_turns_the_next_crop_with_the_body():
    """Hips around (200, 200), shoulders around (250, 150): the body leans 45 degrees right. The row's angle is
    45 degrees; the joints all lie on that line, so the turned extent has no width (half x 0) and its height is
    the line's length (from (195, 205) to (255, 145): 84.9 px) x 1.1 over 288; the centre is the line's middle (225, 175). Without a confident
    shoulder the crop stands upright, and a tracker without ``turn`` keeps 5 numbers."""
    pose = np.full((17, 2), [225.0, 175.0])
    pose[[1, 4]] = [[195, 205], [205, 195]]  # rhip, lhip
    pose[[14, 11]] = [[245, 155], [255, 145]]  # rshoulder, lshoulder
    tracker = JointTracker((288, 512), turn=True)
    tracker.update(pose, np.ones(17), True)
    use, cx, cy, hx, hy, angle = tracker.track()
    assert use == 1 and angle == pytest.approx(np.pi / 4)
    np.testing.assert_allclose([cx, cy], [(2 * 225 + 1) / 512 - 1, (2 * 175 + 1) / 288 - 1], atol=1e-6)
    np.testing.assert_allclose([hx, hy], [0.0, np.hypot(60, 60) * 1.1 / 288], atol=1e-5)
    conf = np.ones(17)
    conf[11] = 0.1
    tracker.update(pose, conf, True)
    assert tracker.track()[5] == 0.0 and tracker.track()[3] > 0  # upright: the line's width shows
    upright = JointTracker((288, 512))
    upright.update(pose, conf, True)
    assert upright.track().shape == (5,)
    np.testing.assert_allclose(upright.track(), tracker.track()[:5], atol=1e-6)


def _turned_net() -> PoseNet:
    torch.manual_seed(0)
    return PoseNet(PoseNetConfig(**{**SIZES["tiny"].to_dict(), "crop_rotation": True})).eval()


def test_a_tracked_row_s_angle_turns_the_crop_and_the_joints_come_back_in_the_frame_s_axes():
    """The tracked row's angle turns the crop the head reads (the head sees the turned crop), the 2D and 3D come
    back turned by it, and the box is the upright bound of the turned one: a square crop's half-sizes (h, h) in
    pixels turned 30 degrees bound (cos + sin) h."""
    net = _turned_net()
    h, w = net.cfg.frame_size
    frames = torch.rand(1, 3, h, w)
    half_px = 20.0
    track = torch.tensor([[1.0, 0.1, -0.2, 2 * half_px / w, 2 * half_px / h, np.radians(30)]], dtype=torch.float32)
    seen = []
    net.head.register_forward_hook(lambda module, args, out: seen.append((args[0], out)))
    with torch.no_grad():
        centre, half, scale, xy, xyz, conf, *_ = net(frames, track)
    (crops_in, (head_xy, head_xyz, *_)), = seen
    upright = crop(frames, scale, centre, net.cfg.crop_size, _turn(30))
    torch.testing.assert_close(crops_in, net.normalise(upright))
    torch.testing.assert_close(xy, turn_points(head_xy, _turn(30)))
    torch.testing.assert_close(xyz, turn_points(head_xyz - head_xyz[:, :1], _turn(30)))
    bound = half_px * (np.cos(np.radians(30)) + np.sin(np.radians(30)))
    np.testing.assert_allclose((half * torch.tensor([w / 2, h / 2])).numpy(), [[bound, bound]], rtol=1e-5)


def test_a_turned_model_exports_takes_six_numbers_a_track_row_and_pads_a_row_without_an_angle(tmp_path: Path):
    """The export matches torch on a tracked row turned by 2 radians and on a detector row; its metadata says 6
    track numbers; the runtime's backend takes the pipeline's 5-number rows (an upright crop, the same as an
    angle of 0) and refuses 7."""
    from engines.backends.base import BackendError
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint, save_checkpoint
    from tests.test_posenet import _onnx_matches_torch
    import onnxruntime as ort

    net = _turned_net()
    ckpt = save_checkpoint(tmp_path / "last.pt", config={"kind": "posenet", "model": net.cfg.to_dict(), "fit": {}},
                           step=1, model=net)
    meta = export_onnx(ckpt, tmp_path / "m.onnx")
    assert meta.track_columns == 6
    graph, _ = build_posenet_graph(load_checkpoint(ckpt))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).integers(0, 256, (2, *net.cfg.frame_size, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45, 2.0], [0, 0, 0, 0, 0, 0]], np.float32)
    _onnx_matches_torch(session, meta, graph, frames, track)

    backend = OnnxRuntimeBackend(tmp_path / "m.onnx")
    five = backend.infer(frames[:1], track=track[:1, :5])
    zero = backend.infer(frames[:1], track=np.concatenate([track[:1, :5], [[0.0]]], 1).astype(np.float32))
    turned = backend.infer(frames[:1], track=track[:1])
    np.testing.assert_array_equal(five["pose2d"], zero["pose2d"])
    assert np.abs(turned["pose2d"] - zero["pose2d"]).max() > 0.1
    with pytest.raises(BackendError, match="track must be float32"):
        backend.infer(frames[:1], track=np.zeros((1, 7), np.float32))


def test_reconfigure_turns_the_crop_and_keeps_every_weight(tmp_path: Path):
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.reconfigure import main, reconfigure

    torch.manual_seed(0)
    net = PoseNet(SIZES["tiny"])
    ckpt = save_checkpoint(tmp_path / "run" / "last.pt", step=9, model=net,
                           config={"kind": "posenet", "model": SIZES["tiny"].to_dict(), "fit": {"steps": 9}})
    cfg = reconfigure(ckpt, tmp_path / "turned" / "last.pt", crop_rotation=True)
    assert cfg.crop_rotation and cfg.frame_size == SIZES["tiny"].frame_size
    state = load_checkpoint(tmp_path / "turned" / "last.pt")
    assert state["step"] == 9 and state["config"]["model"]["crop_rotation"] is True
    assert state["config"]["fit"]["reconfigured"] == {"from": str(ckpt), "crop_rotation": True}
    for name, tensor in net.state_dict().items():
        assert torch.equal(state["model"][name], tensor), name
    with pytest.raises(ValueError, match="not run-time settings"):
        reconfigure(ckpt, tmp_path / "x.pt", width=8)
    with pytest.raises(SystemExit):
        main([str(ckpt), str(tmp_path / "y.pt")])  # no setting named
