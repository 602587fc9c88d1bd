"""The crop read both ways (``PoseNetConfig.mirror_read``): the flip test inside the exported graph."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from train.posenet.config import SIZES
from train.posenet.model import MIRROR, PoseNet
from tvstream.skeleton import H36M_17


def _nets() -> tuple[PoseNet, PoseNet]:
    """A tiny network with random weights, and the same weights reading both ways."""
    torch.manual_seed(0)
    plain = PoseNet(SIZES["tiny"]).eval()
    both = PoseNet(replace(SIZES["tiny"], mirror_read=True)).eval()
    both.load_state_dict(plain.state_dict())
    return plain, both


def _mirrored(xy: torch.Tensor, xyz: torch.Tensor, conf: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A read of a mirrored picture in the original's terms: joints swapped left for right, x negated."""
    sign2, sign3 = torch.tensor([-1.0, 1.0]), torch.tensor([-1.0, 1.0, 1.0])
    return xy[:, MIRROR] * sign2, xyz[:, MIRROR] * sign3, conf[:, MIRROR]


def test_the_swap_pairs_each_left_joint_with_its_right_and_keeps_the_spine():
    names = H36M_17.names
    other = {"l": "r", "r": "l"}
    for i, j in enumerate(MIRROR.tolist()):
        sided = names[i][0] in other and names[i] != "hip"
        assert names[j] == (other[names[i][0]] + names[i][1:] if sided else names[i]), (names[i], names[j])
    assert (MIRROR != torch.arange(17)).sum() == 12  # six pairs: shoulders, elbows, wrists, hips, knees, ankles


def test_a_both_ways_read_is_the_mean_of_the_read_and_the_mirrored_picture_s_read_mirrored_back():
    """On a tracked row: reading frame F both ways = the mean of the plain read of F and the plain read of F
    mirrored (its crop at the mirrored centre), that read mirrored back; and reading F mirrored both ways gives
    exactly the mirror of reading F both ways (a symmetric reader)."""
    plain, both = _nets()
    h, w = plain.cfg.frame_size
    frames = torch.rand(1, 3, h, w)
    row = torch.tensor([[1.0, 0.23, -0.1, 0.15, 0.4]])
    mirrored_row = row * torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0])
    with torch.no_grad():
        _, _, _, xy, xyz, conf, _ = plain(frames, row)
        _, _, _, mxy, mxyz, mconf, _ = plain(frames.flip(-1), mirrored_row)
        _, _, _, bxy, bxyz, bconf, _ = both(frames, row)
        _, _, _, bmxy, bmxyz, bmconf, _ = both(frames.flip(-1), mirrored_row)
    back = _mirrored(mxy, mxyz, mconf)
    torch.testing.assert_close(bxy, (xy + back[0]) / 2, atol=1e-5, rtol=0)
    torch.testing.assert_close(bxyz, (xyz + back[1]) / 2, atol=1e-5, rtol=0)
    torch.testing.assert_close(bconf, (conf + back[2]) / 2, atol=1e-6, rtol=0)
    for a, b in zip(_mirrored(bmxy, bmxyz, bmconf), (bxy, bxyz, bconf)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # the plain reader is not symmetric (random weights): the test would see a read that ignored the mirror
    assert (xy - back[0]).abs().max() > 1e-3


def test_a_both_ways_model_exports_and_matches_torch_on_tracked_and_detector_rows(tmp_path: Path):
    import onnxruntime as ort

    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from tests.test_posenet import _onnx_matches_torch
    from train.checkpoint import load_checkpoint, save_checkpoint

    _, both = _nets()
    ckpt = save_checkpoint(tmp_path / "last.pt", config={"kind": "posenet", "model": both.cfg.to_dict(), "fit": {}},
                           step=1, model=both)
    meta = export_onnx(ckpt, tmp_path / "m.onnx")
    graph, _ = build_posenet_graph(load_checkpoint(ckpt))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(1).integers(0, 256, (2, *both.cfg.frame_size, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [0, 0, 0, 0, 0]], np.float32)
    _onnx_matches_torch(session, meta, graph, frames, track)
    got = _onnx_matches_torch(session, meta, graph, frames[:1], track[:1])

    # the graph read back (train.posenet.from_onnx: how a shipped model is trained or reconfigured again) reads
    # both ways too
    from train.posenet.from_onnx import recover

    net, _ = recover(tmp_path / "m.onnx")
    assert net.cfg.mirror_read
    recovered = save_checkpoint(tmp_path / "again.pt", config={"kind": "posenet", "model": net.cfg.to_dict(),
                                                                "fit": {}}, step=1, model=net)
    export_onnx(recovered, tmp_path / "again.onnx")
    again = ort.InferenceSession(str(tmp_path / "again.onnx"), providers=["CPUExecutionProvider"])
    for name, a, b in zip(meta.outputs, got, again.run(list(meta.outputs), {"frames": frames[:1], "track": track[:1]})):
        np.testing.assert_allclose(a, b, atol=0.5 if name == "pose3d" else 1e-2, err_msg=name)


def test_reconfigure_makes_a_both_ways_reader_of_the_same_weights(tmp_path: Path):
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.reconfigure import main

    plain, _ = _nets()
    ckpt = save_checkpoint(tmp_path / "run" / "last.pt", step=3, model=plain,
                           config={"kind": "posenet", "model": plain.cfg.to_dict(), "fit": {}})
    main([str(ckpt), str(tmp_path / "both.pt"), "--mirror-read"])
    state = load_checkpoint(tmp_path / "both.pt")
    assert state["config"]["model"]["mirror_read"] is True
    assert all(torch.equal(state["model"][k], v) for k, v in plain.state_dict().items())


def _reads(direct_xy: torch.Tensor, mirror_xy: torch.Tensor, direct_conf: float, mirror_conf: float):
    """A batch of one crop read both ways: 2D as given (the mirrored read in the mirrored picture's terms), 3D the
    2D with depth 0, every joint's confidence as given."""
    xy = torch.cat([direct_xy, mirror_xy])
    xyz = torch.cat([xy, torch.zeros(2, 17, 1)], -1)
    conf = torch.tensor([[direct_conf] * 17, [mirror_conf] * 17])
    return xy, xyz, conf


def _wrists(left_x: float, right_x: float) -> torch.Tensor:
    xy = torch.zeros(1, 17, 2)
    xy[0, H36M_17.index("lwrist"), 0], xy[0, H36M_17.index("rwrist"), 0] = left_x, right_x
    return xy


def test_where_the_two_reads_disagree_on_the_sides_the_mean_folds_the_arms_and_the_setting_chooses():
    """Session 31's squat: the direct read puts the left wrist on the image's left (x -0.4) and the right one at
    +0.3. A mirrored read that agrees names the mirrored picture's wrists the other way round (its left wrist, the
    image of the person's left, at +0.4 in the mirror, x negated back: -0.4); one that disagrees swaps them."""
    from train.posenet.model import combine_both_ways, sides_agree

    left, right = H36M_17.index("lwrist"), H36M_17.index("rwrist")
    direct = _wrists(-0.4, 0.3)
    agrees = _wrists(-0.3, 0.4)  # in the mirror: the left wrist at -0.3 is the image of the right at +0.3
    disagrees = agrees[:, MIRROR]
    assert sides_agree(torch.cat([direct, agrees]), 1).tolist() == [True]
    assert sides_agree(torch.cat([direct, disagrees]), 1).tolist() == [False]

    # agreeing reads: every setting gives the mean (the wrists where the direct read has them, 3D alike)
    for setting in ("mean", "direct", "surer"):
        xy, xyz, conf = combine_both_ways(_reads(direct, agrees, 0.9, 0.5), 1, setting)
        assert xy[0, left, 0].item() == pytest.approx(-0.4) and xy[0, right, 0].item() == pytest.approx(0.3)
        assert xyz[0, left, 0].item() == pytest.approx(-0.4)
        assert conf[0, 0].item() == pytest.approx(0.7)

    # disagreeing reads: the mean folds both wrists onto the midline
    xy, _, conf = combine_both_ways(_reads(direct, disagrees, 0.9, 0.5), 1, "mean")
    assert abs(xy[0, left, 0].item()) < 0.06 and abs(xy[0, right, 0].item()) < 0.06
    assert conf[0, 0].item() == pytest.approx(0.7)
    # "direct" keeps the direct read whatever the confidences
    for surer_direct in (True, False):
        xy, xyz, conf = combine_both_ways(_reads(direct, disagrees, 0.9 if surer_direct else 0.5,
                                                 0.5 if surer_direct else 0.9), 1, "direct")
        torch.testing.assert_close(xy, direct)
        torch.testing.assert_close(xyz[..., :2], direct)
        assert conf[0, 0].item() == pytest.approx(0.9 if surer_direct else 0.5)
    # "surer" keeps the surer read: the direct one, or the mirrored one mirrored back (its sides as labeled)
    xy, _, conf = combine_both_ways(_reads(direct, disagrees, 0.9, 0.5), 1, "surer")
    torch.testing.assert_close(xy, direct)
    assert conf[0, 0].item() == pytest.approx(0.9)
    xy, xyz, conf = combine_both_ways(_reads(direct, disagrees, 0.5, 0.9), 1, "surer")
    assert xy[0, left, 0].item() == pytest.approx(0.3) and xy[0, right, 0].item() == pytest.approx(-0.4)
    assert xyz[0, left, 0].item() == pytest.approx(0.3)
    assert conf[0, 0].item() == pytest.approx(0.9)


def test_the_choice_is_made_crop_by_crop_in_a_batch():
    from train.posenet.model import combine_both_ways

    direct, agrees = _wrists(-0.4, 0.3), _wrists(-0.3, 0.4)
    xy = torch.cat([direct, direct, agrees, agrees[:, MIRROR]])  # two crops: the first agrees, the second not
    xyz = torch.cat([xy, torch.zeros(4, 17, 1)], -1)
    out, _, _ = combine_both_ways((xy, xyz, torch.ones(4, 17)), 2, "direct")
    left = H36M_17.index("lwrist")
    assert out[0, left, 0].item() == pytest.approx(-0.4)  # the mean of -0.4 and -0.4
    torch.testing.assert_close(out[1], direct[0])


def test_a_model_that_keeps_the_direct_read_on_disagreement_exports_and_matches_torch(tmp_path: Path):
    import onnxruntime as ort

    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from tests.test_posenet import _onnx_matches_torch
    from train.checkpoint import load_checkpoint, save_checkpoint

    plain, _ = _nets()
    for setting in ("direct", "surer"):
        net = PoseNet(replace(plain.cfg, mirror_read=True, mirror_disagree=setting)).eval()
        net.load_state_dict(plain.state_dict())
        ckpt = save_checkpoint(tmp_path / setting / "last.pt", step=1, model=net,
                               config={"kind": "posenet", "model": net.cfg.to_dict(), "fit": {}})
        meta = export_onnx(ckpt, tmp_path / f"{setting}.onnx")
        graph, _ = build_posenet_graph(load_checkpoint(ckpt))
        session = ort.InferenceSession(str(tmp_path / f"{setting}.onnx"), providers=["CPUExecutionProvider"])
        frames = np.random.default_rng(2).integers(0, 256, (3, *net.cfg.frame_size, 3), dtype=np.uint8)
        track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [0, 0, 0, 0, 0], [1, -0.2, 0.1, 0.3, 0.3]], np.float32)
        _onnx_matches_torch(session, meta, graph, frames, track)


def test_mirror_disagree_is_a_run_time_setting_with_known_values(tmp_path: Path):
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.reconfigure import main

    with pytest.raises(ValueError, match="mirror_disagree"):
        replace(SIZES["tiny"], mirror_disagree="vote")
    assert replace(SIZES["tiny"], mirror_disagree="direct").same_weights(SIZES["tiny"])
    plain, _ = _nets()
    ckpt = save_checkpoint(tmp_path / "run" / "last.pt", step=3, model=plain,
                           config={"kind": "posenet", "model": plain.cfg.to_dict(), "fit": {}})
    main([str(ckpt), str(tmp_path / "d.pt"), "--mirror-read", "--mirror-disagree", "surer"])
    state = load_checkpoint(tmp_path / "d.pt")
    assert state["config"]["model"]["mirror_disagree"] == "surer"
    assert all(torch.equal(state["model"][k], v) for k, v in plain.state_dict().items())
