"""The DrNet and NSD baselines: their losses and rotation on hand-made inputs, and both through the real loop."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from fixed_batch import train_on_fixed_batch
from train.checkpoint import load_checkpoint
from train.data import SamplingConfig, VideoDataset
from train.losses.adversarial import (
    confusion_loss,
    content_similarity_loss,
    discriminator_accuracy,
    discriminator_loss,
)
from train.losses.reconstruction import PerceptualNet
from train.models.drnet import SceneCritic, same_video_pairs, scene_pairs
from train.models.nsd import cross_view_latents, relative_rotation, rotate_points
from train.models.ssl_model import SSLModel
from train.ssl.config import TrainConfig, config_for
from train.ssl.fit import fit, model_config
from train.ssl.objective import LossWeights, ssl_loss
from train.ssl.variants import VARIANTS, Variant

# ---------------------------------------------------------------------------------------- DrNet losses


def test_discriminator_loss_is_the_binary_cross_entropy_of_the_labels():
    # logit 0 -> p = 1/2 on a same-video pair: ln 2; logit ln 3 -> p = 3/4 on a different pair: -ln(1/4) = ln 4
    loss = discriminator_loss(torch.tensor([0.0, math.log(3)]), torch.tensor([True, False]))
    assert loss.item() == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-6)
    assert discriminator_loss(torch.tensor([math.log(3)]), torch.tensor([1.0])).item() == pytest.approx(
        math.log(4 / 3), rel=1e-6)


def test_confusion_loss_is_ln2_at_even_odds_and_larger_elsewhere():
    logits = torch.tensor([0.0], requires_grad=True)
    loss = confusion_loss(logits)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    assert logits.grad.abs().item() < 1e-7  # the minimum: output 0.5
    for logit in (-2.0, 0.5, 2.0):  # log(2 cosh(l / 2)), the same either way
        value = confusion_loss(torch.tensor([logit])).item()
        assert value == pytest.approx(math.log(2 * math.cosh(logit / 2)), rel=1e-6) and value > math.log(2)


def test_content_similarity_is_the_mean_squared_difference():
    assert content_similarity_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0]])).item() == 2.0


def test_discriminator_accuracy_counts_the_right_side_of_one_half():
    acc = discriminator_accuracy(torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1, 1, 0, 0]))
    assert acc.item() == 0.5


def test_adversarial_losses_refuse_bad_shapes():
    with pytest.raises(ValueError, match="logits must be"):
        confusion_loss(torch.zeros(2, 1))
    with pytest.raises(ValueError, match="same must match"):
        discriminator_loss(torch.zeros(3), torch.zeros(2))


def test_scene_pairs_label_pairs_by_their_video_ids():
    tv = torch.arange(4.0).view(2, 2, 1)  # items (0, 1) and (2, 3)
    first, second, same = scene_pairs(tv, torch.tensor([[0, 0], [1, 1]]))
    assert first.flatten().tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert second.flatten().tolist() == [1, 0, 3, 2, 3, 2, 1, 0]  # the frame before; a frame of the next item
    assert same.tolist() == [True] * 4 + [False] * 4
    _, _, same = scene_pairs(tv, torch.zeros(2, 2, dtype=torch.long))  # two items of one video
    assert same.all()


def _two_video_poses(b: int = 8, s: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose vectors that give their video away: items alternate between two clusters."""
    g = torch.Generator().manual_seed(seed)
    video = (torch.arange(b) % 2)[:, None].expand(b, s)  # (B, S)
    centres = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    return centres[video] + 0.3 * torch.randn(b, s, 2, generator=g), video


def test_discriminator_learns_separable_pairs_and_the_encoder_pushes_it_back_to_even_odds():
    torch.manual_seed(0)
    critic = SceneCritic(2, lr=1e-2, hidden=32)
    tv, video = _two_video_poses()
    first = critic.step(tv, video)
    for _ in range(60):
        last = critic.step(tv, video)
    assert first["disc_acc"] <= 0.75 and last["disc_acc"] >= 0.95 and last["disc"] < first["disc"]

    # the encoder's side: move the pose vectors (the critic frozen) until same-video pairs read 0.5
    weights = [p.clone() for p in critic.net.parameters()]
    pose = torch.nn.Parameter(tv.clone())
    opt = torch.optim.Adam([pose], lr=0.05)

    def odds_gap() -> float:
        with torch.no_grad():
            return (torch.sigmoid(critic.judge(*same_video_pairs(pose))) - 0.5).abs().mean().item()

    gap0 = odds_gap()
    losses = []
    for _ in range(40):
        loss = confusion_loss(critic.judge(*same_video_pairs(pose)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert gap0 > 0.3 and odds_gap() < gap0 / 2, (gap0, odds_gap())
    assert losses[-1] < losses[0] / 2 and losses[-1] < math.log(2) + 0.15, losses  # ln 2: even odds everywhere
    assert all(torch.equal(w, p) for w, p in zip(weights, critic.net.parameters()))  # judge() trains no weight


# ---------------------------------------------------------------------------------------- NSD rotation


def _rotations(n: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
    return q * torch.sign(torch.linalg.det(q))[:, None, None]  # proper rotations, det +1


def test_rotating_into_another_view_and_back_gives_the_original_latent():
    r_a, r_b = _rotations(5, 1), _rotations(5, 2)
    latent = torch.randn(5, 3 * 7, dtype=torch.float64)
    to_b = relative_rotation(r_a, r_b)  # R_B R_A^T
    torch.testing.assert_close(relative_rotation(r_b, r_a), to_b.transpose(1, 2))
    back = rotate_points(rotate_points(latent, to_b), relative_rotation(r_b, r_a))
    torch.testing.assert_close(back, latent)
    assert not torch.allclose(rotate_points(latent, to_b), latent)


def test_the_same_camera_leaves_the_latent_unchanged():
    r = _rotations(4, 3)
    latent = torch.randn(4, 3 * 5, dtype=torch.float64)
    torch.testing.assert_close(rotate_points(latent, relative_rotation(r, r)), latent)


def test_relative_rotation_carries_camera_a_points_into_camera_b():
    # camera A = world axes, camera B turned 90 degrees about z: a point on world x lies on B's y axis
    r_a = torch.eye(3)[None]
    r_b = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    latent = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0, 2.0]])  # two points: (1, 0, 0) and (0, 0, 2)
    torch.testing.assert_close(rotate_points(latent, relative_rotation(r_a, r_b)),
                               torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 2.0]]))


def test_cross_view_latents_swap_geometry_between_views_and_take_appearance_from_the_far_frame():
    tv = torch.tensor([[[1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]])  # (1, 3, 3): view 0, view 1, view 0 far
    ti = torch.tensor([[[10.0], [20.0], [30.0]]])
    rotation = torch.eye(3).expand(1, 3, 3, 3)
    pose, appearance = cross_view_latents(tv, ti, rotation)
    assert pose[:, 0].tolist() == [2.0, 1.0, 3.0] and appearance.flatten().tolist() == [30.0, 30.0, 10.0]
    turned = rotation.clone()
    turned[0, 1] = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # view 1's camera
    pose, _ = cross_view_latents(tv, ti, turned)
    torch.testing.assert_close(pose, torch.tensor([[0.0, -2.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 0.0]]))


def test_nsd_needs_a_latent_of_3d_points():
    with pytest.raises(ValueError, match=r"\(N, 3P\)"):
        rotate_points(torch.zeros(2, 8), torch.eye(3).expand(2, 3, 3))
    cfg = model_config(TrainConfig(variant="NSD", model="tiny"))
    assert cfg.tv_dim % 3 == 0 and cfg.tv_dim == 30  # tiny's 32 rounded down


def test_variants_check_their_multiview_and_split_needs():
    with pytest.raises(ValueError, match="multiview"):
        Variant("x", temporal=None, rotate=True)
    with pytest.raises(ValueError, match="multiview"):
        Variant("x", temporal="mvcss")
    with pytest.raises(ValueError, match="split"):
        Variant("x", temporal=None, split=False, adversarial=True)


# ---------------------------------------------------------------------------------------- on a fixed batch


def _stack(items: list[dict], keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in keys}


@pytest.fixture(scope="module")
def temporal_batch(clip_dir, tmp_path_factory):
    ds = VideoDataset(clip_dir, size=(64, 64), sampling=SamplingConfig(near=5, far=40),
                      cache_dir=tmp_path_factory.mktemp("cache"), with_labels=False)
    return _stack([ds[i] for i in range(0, 400, 100)], ("frames", "distance", "video"))  # 4 items, 2 videos


@pytest.fixture(scope="module")
def multiview_batch(rig_dir, tmp_path_factory):
    ds = VideoDataset(rig_dir, size=(64, 64), sampling=SamplingConfig(mode="multiview", views=2, near=3, far=20),
                      cache_dir=tmp_path_factory.mktemp("cache"), with_labels=True)
    return _stack([ds[i] for i in range(0, len(ds), len(ds) // 4)][:4], ("frames", "distance", "R"))


def test_drnet_learns_on_a_fixed_batch(temporal_batch):
    cfg = TrainConfig(variant="DrNet", model="tiny")
    torch.manual_seed(0)
    model = SSLModel(model_config(cfg))
    critic = SceneCritic(model.cfg.tv_dim, lr=1e-3)
    assert temporal_batch["video"][:, 0].unique().numel() == 2  # the critic sees pairs of both kinds
    perceptual = PerceptualNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accuracy = [], []
    for step in range(20):
        out = model(temporal_batch["frames"], None, torch.Generator().manual_seed(step))
        loss, terms = ssl_loss(out, temporal_batch["distance"], VARIANTS["DrNet"], LossWeights(), perceptual, 40.0,
                               discriminator=critic.judge)
        assert torch.isfinite(loss) and {"content", "adversarial"} <= terms.keys(), terms
        opt.zero_grad()
        loss.backward()
        opt.step()
        accuracy.append(critic.step(out.tv, temporal_batch["video"])["disc_acc"])
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert all(0 <= a <= 1 for a in accuracy), accuracy


def test_drnet_objective_needs_the_discriminator(temporal_batch):
    model = SSLModel(model_config(TrainConfig(variant="DrNet", model="tiny")))
    out = model(temporal_batch["frames"][:2])
    with pytest.raises(ValueError, match="scene discriminator"):
        ssl_loss(out, temporal_batch["distance"][:2], VARIANTS["DrNet"], LossWeights(), None, 40.0)


def test_nsd_learns_on_a_fixed_multiview_batch(multiview_batch):
    cfg = TrainConfig(variant="NSD", model="tiny")
    torch.manual_seed(0)
    model = SSLModel(model_config(cfg))
    perceptual = PerceptualNet()
    assert multiview_batch["frames"].shape[1] == 3 and torch.isfinite(multiview_batch["R"]).all()

    def step_loss(step):
        out = model(multiview_batch["frames"], None, torch.Generator().manual_seed(step), multiview_batch["R"])
        loss, terms = ssl_loss(out, multiview_batch["distance"], VARIANTS["NSD"], LossWeights(), perceptual, 20.0)
        assert "reconst" in terms and "temporal" not in terms, terms
        return loss, terms

    train_on_fixed_batch(model, step_loss)  # finite every step, lower at the end


# ---------------------------------------------------------------------------------------- through fit()


def _tiny(data, **kw):
    return replace(config_for("studio"), model="tiny", data=str(data), split=None, batch_size=4, workers=0,
                   log_every=1, image_every=0, eval_every=0, **kw)


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_drnet_runs_twenty_steps_through_the_loop(clip_dir, tmp_path):
    state = load_checkpoint(fit(_tiny(clip_dir, variant="DrNet", steps=20, checkpoint_every=20), tmp_path))
    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 21))
    for key in ("loss", "reconst", "content", "adversarial", "disc", "disc_acc"):
        assert all(math.isfinite(r[key]) for r in rows), key
    assert "temporal" not in rows[0]
    assert set(state["extra"]["critic"]) == {"net", "optimizer"} and state["extra"]["critic"]["optimizer"]["state"]


def test_nsd_runs_twenty_steps_through_the_loop_on_a_rig(rig_dir, tmp_path):
    cfg = _tiny(rig_dir, variant="NSD", steps=20, checkpoint_every=20, near=3, far=20, background=None)
    state = load_checkpoint(fit(cfg, tmp_path))
    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == list(range(1, 21))
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["reconst"]) for r in rows)
    assert state["extra"]["model_config"]["tv_dim"] == 30 and "critic" not in state["extra"]


def test_nsd_refuses_a_rig_without_camera_rotations(rig_dir, tmp_path):
    from train.ssl.fit import TrainingError
    from tvstream.manifest import VideoEntry, write_manifest

    entries = [VideoEntry(video=rig_dir / f"seq1_c{c}.mp4", subject="s1", sequence="seq1", camera=f"c{c}")
               for c in range(2)]  # the rig's videos without their label files
    write_manifest(tmp_path / "manifest.json", entries)
    with pytest.raises(TrainingError, match="no camera rotation"):
        fit(_tiny(tmp_path / "manifest.json", variant="NSD", steps=1, near=3, far=20, background=None),
            tmp_path / "run")


def test_drnet_resume_equals_uninterrupted_training(clip_dir, tmp_path):
    cfg = _tiny(clip_dir, variant="DrNet", steps=6, checkpoint_every=3)
    straight = load_checkpoint(fit(cfg, tmp_path / "a"))
    fit(replace(cfg, steps=3), tmp_path / "b")
    resumed = load_checkpoint(fit(cfg, tmp_path / "b", resume=True))
    assert straight["step"] == resumed["step"] == 6
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    a, b = straight["extra"]["critic"], resumed["extra"]["critic"]
    for key, value in a["net"].items():
        assert torch.equal(value, b["net"][key]), key
    for slot, moments in a["optimizer"]["state"].items():
        assert moments["step"] == b["optimizer"]["state"][slot]["step"] == 6
        assert torch.equal(moments["exp_avg_sq"], b["optimizer"]["state"][slot]["exp_avg_sq"]), slot
