"""The head's trunk part of the way back to MediaPipe's weights (``train.posenet.interpolate``, WiSE-FT)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from train.checkpoint import load_checkpoint, save_checkpoint
from train.posenet.config import SIZES
from train.posenet.interpolate import interpolate_state, main, toward_pretrained
from train.posenet.model import PoseNet, PretrainedPoseHead


def _states() -> tuple[dict, dict]:
    trained = {"head.trunk.graph.n1.weight": torch.tensor([4.0, 8.0]), "head.heat.bias": torch.tensor([2.0]),
               "head.out.weight": torch.tensor([5.0]), "head.trunk.presence.n25.weight": torch.tensor([3.0]),
               "head.up.1.num_batches_tracked": torch.tensor(7)}
    pretrained = {"head.trunk.graph.n1.weight": torch.tensor([0.0, 4.0]), "head.heat.bias": torch.tensor([-2.0]),
                  "head.out.weight": torch.tensor([100.0]), "head.trunk.presence.n25.weight": torch.tensor([100.0])}
    return trained, pretrained


def test_the_moved_weights_lie_alpha_of_the_way_from_the_pretrained_ones_and_the_rest_are_kept():
    trained, pretrained = _states()
    out = interpolate_state(trained, pretrained, 0.25)
    assert out["head.trunk.graph.n1.weight"].tolist() == [1.0, 5.0]  # 0.25 * 4 + 0.75 * 0, 0.25 * 8 + 0.75 * 4
    assert out["head.heat.bias"].tolist() == [-1.0]  # 0.25 * 2 + 0.75 * -2
    assert out["head.out.weight"].tolist() == [5.0]  # the location maps have no pretrained counterpart
    assert out["head.trunk.presence.n25.weight"].tolist() == [3.0]  # the presence branch stays as trained
    assert out["head.up.1.num_batches_tracked"].item() == 7
    assert interpolate_state(trained, pretrained, 1.0)["head.trunk.graph.n1.weight"].tolist() == [4.0, 8.0]
    assert interpolate_state(trained, pretrained, 0.0)["head.heat.bias"].tolist() == [-2.0]


@pytest.mark.parametrize("alpha, pretrained, message", [
    (1.5, None, "alpha must be in"),
    (0.5, {"head.heat.bias": torch.tensor([0.0])}, "no head.trunk.graph.n1.weight"),
    (0.5, {"head.trunk.graph.n1.weight": torch.zeros(3), "head.heat.bias": torch.zeros(1)}, "of shape (2,)"),
])
def test_a_wrong_alpha_or_a_pretrained_network_that_does_not_match_is_refused(alpha, pretrained, message):
    trained, good = _states()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        interpolate_state(trained, pretrained or good, alpha)


def test_a_head_without_a_pretrained_trunk_is_refused():
    with pytest.raises(ValueError, match="nothing under"):
        interpolate_state({"head.out.weight": torch.ones(1)}, {}, 0.5)


def test_a_checkpoint_s_head_moves_toward_mediapipe_s_weights_and_its_detectors_stay(tmp_path, monkeypatch, capsys):
    def zero_weights(self, tflite=None):  # stands in for MediaPipe's weights (no teacher here): all zeros
        with torch.no_grad():
            for p in self.parameters():
                p.zero_()

    monkeypatch.setattr(PretrainedPoseHead, "load_pretrained", zero_weights)
    cfg = replace(SIZES["tiny"], head_trunk="blazepose_lite", crop_size=192, up_channels=8, presence=True)
    torch.manual_seed(0)
    net = PoseNet(cfg)
    save_checkpoint(tmp_path / "run" / "last.pt", config={"kind": "posenet", "model": cfg.to_dict()}, step=5,
                    model=net)
    toward_pretrained(tmp_path / "run" / "last.pt", tmp_path / "w" / "last.pt", 0.25)
    state = load_checkpoint(tmp_path / "w" / "last.pt")
    before = net.state_dict()
    graph = [k for k in before if k.startswith("head.trunk.graph.")]
    assert graph and all(torch.allclose(state["model"][k], 0.25 * before[k]) for k in graph)
    assert torch.allclose(state["model"]["head.heat.weight"], 0.25 * before["head.heat.weight"])
    kept = [k for k in before if k.startswith(("detector.", "head.out.", "head.up.", "head.trunk.presence."))]
    assert kept and all(torch.equal(state["model"][k], before[k]) for k in kept)
    assert state["config"]["fit"]["interpolated"]["alpha"] == 0.25 and state["step"] == 5
    PoseNet(cfg).load_state_dict(state["model"])  # the same modules: loads strictly

    resnet = SIZES["tiny"]  # a head trained from scratch: nothing to go back to
    save_checkpoint(tmp_path / "r" / "last.pt", config={"kind": "posenet", "model": resnet.to_dict()}, step=1,
                    model=PoseNet(resnet))
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "r" / "last.pt"), str(tmp_path / "r2" / "last.pt"), "--alpha", "0.5"])
    assert exit_info.value.code == 2
    assert "was not pretrained" in capsys.readouterr().err
    assert not (tmp_path / "r2" / "last.pt").exists()


def test_a_soup_with_a_sibling_tune_moves_the_trunk_and_3d_and_keeps_the_pose_flag(tmp_path, capsys):
    """``--toward OTHER``: two tunes of one network from one start, averaged layer for layer (rule 39's soups); the
    pose flag and the detectors stay the checkpoint's own (averaged, the pose flag read 0 on every crop), and the
    card says what the other tune was. A network of another config is refused, and nothing is written."""
    from train.default_model import landmark_tune_trained_on

    cfg = replace(SIZES["tiny"], head_trunk="blazepose_lite", crop_size=192, up_channels=8, presence=True)
    nets = []
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        nets.append(PoseNet(cfg))
        fit = {"recipe": "train.landmark_tune", "steps": 30 * (seed + 1), "lr": 5e-5, "renders": [f"/x/design{seed}"],
               "occlude_p": 0.3 * seed}
        save_checkpoint(tmp_path / name / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": fit},
                        step=4, model=nets[-1])
    main([str(tmp_path / "b" / "last.pt"), str(tmp_path / "s" / "last.pt"), "--alpha", "0.25",
          "--toward", str(tmp_path / "a" / "last.pt")])
    state = load_checkpoint(tmp_path / "s" / "last.pt")
    a, b = nets[0].state_dict(), nets[1].state_dict()
    moved = [k for k in b if k.startswith(("head.trunk.graph.", "head.heat.")) and b[k].is_floating_point()]
    assert moved and all(torch.allclose(state["model"][k], 0.25 * b[k] + 0.75 * a[k], atol=1e-6) for k in moved)
    kept = [k for k in b if k.startswith(("detector.", "head.trunk.presence."))]
    assert kept and all(torch.equal(state["model"][k], b[k]) for k in kept)
    assert any(not torch.equal(a[k], b[k]) for k in kept)  # (the two nets do differ there)
    text = landmark_tune_trained_on(state["config"]["fit"])
    assert "0.25 x its own + 0.75 x those of a sibling tune" in text and "30 steps" in text and "design0" in text

    other = replace(cfg, up_channels=16)
    save_checkpoint(tmp_path / "o" / "last.pt", config={"kind": "posenet", "model": other.to_dict()}, step=1,
                    model=PoseNet(other))
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "b" / "last.pt"), str(tmp_path / "t" / "last.pt"), "--alpha", "0.5",
              "--toward", str(tmp_path / "o" / "last.pt")])
    assert exit_info.value.code == 2 and "another network" in capsys.readouterr().err
    assert not (tmp_path / "t" / "last.pt").exists()
