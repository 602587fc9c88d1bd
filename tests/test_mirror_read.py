"""The crop read both ways (``PoseNetConfig.mirror_read``): the flip test inside the exported graph."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
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
