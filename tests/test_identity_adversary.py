"""The identity adversary (Ours-noID): its loss, its critic, the subject probe, and a run that trains with it."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from train.analysis.disentanglement import probe_accuracy
from train.losses.adversarial import uniform_confusion_loss
from train.models.identity_critic import SubjectCritic


def test_uniform_confusion_is_log_k_at_even_odds_and_larger_when_a_class_is_named():
    assert uniform_confusion_loss(torch.zeros(5, 4)).item() == pytest.approx(math.log(4))
    # one class at logit 2, three at 0: -(1/4) * sum(log p) with p = e^2 / (e^2 + 3), 1 / (e^2 + 3)
    z = math.exp(2) + 3
    expected = -(math.log(math.exp(2) / z) + 3 * math.log(1 / z)) / 4
    assert uniform_confusion_loss(torch.tensor([[2.0, 0, 0, 0]])).item() == pytest.approx(expected)
    assert expected > math.log(4)
    with pytest.raises(ValueError):
        uniform_confusion_loss(torch.zeros(4))


def test_critic_learns_to_name_subjects_and_the_encoder_makes_it_unsure():
    torch.manual_seed(0)
    subject = torch.arange(3).repeat_interleave(8).view(6, 4)  # (B, S): 3 subjects, 2 items each
    tv = torch.randn(6, 4, 5) * 0.1 + torch.eye(3, 5)[subject] * 3  # each subject its own direction
    critic = SubjectCritic(5, 3, lr=1e-3)
    first = critic.step(tv, subject)
    for _ in range(80):
        last = critic.step(tv, subject)
    assert last["id_acc"] == 1.0 and last["id_ce"] < first["id_ce"] / 4

    weights = [p.clone() for p in critic.net.parameters()]
    pose = torch.nn.Parameter(tv.clone())
    opt = torch.optim.Adam([pose], lr=0.05)
    losses = []
    for _ in range(60):
        loss = uniform_confusion_loss(critic.judge(pose))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > math.log(3) + 1 and losses[-1] < math.log(3) + 0.1, losses
    assert all(torch.equal(w, p) for w, p in zip(weights, critic.net.parameters()))  # judge() trains no weight
    with pytest.raises(ValueError):
        SubjectCritic(5, 1, lr=1e-3)


def test_probe_names_subjects_from_their_other_videos_and_not_from_video_offsets():
    subject = np.repeat([0, 0, 1, 1], 3)  # 2 subjects x 2 videos x 3 frames
    video = np.repeat([0, 1, 2, 3], 3)
    rng = np.random.default_rng(0)
    by_subject = np.array([[0.0], [10.0]])[subject] + rng.normal(0, 0.1, (12, 1))
    assert probe_accuracy(by_subject, subject, video) == 1.0
    # each video its own offset: the held-out video of subject 0 (video 1) sits next to subject 1's fitted
    # video (video 2), and the other way round: every held-out frame named wrong
    by_video = np.array([[0.0], [9.0], [10.0], [1.0]])[video] + rng.normal(0, 0.1, (12, 1))
    assert probe_accuracy(by_video, subject, video) == 0.0
    assert probe_accuracy(by_subject[:3], subject[:3], video[:3]) is None  # no subject with a second video


def test_ours_no_id_trains_resumes_and_logs_the_critic(clip_dir, tmp_path):
    from train.ssl.config import config_for
    from train.ssl.fit import fit
    from tvstream.manifest import discover, write_manifest

    entries = discover(clip_dir)
    entries = [e.__class__(**{**e.__dict__, "subject": f"s{i}", "split": "train"}) for i, e in enumerate(entries)]
    write_manifest(tmp_path / "manifest.json", entries)
    cfg = replace(config_for("studio"), variant="Ours-noID", model="tiny", data=str(tmp_path / "manifest.json"),
                  batch_size=4, workers=0, log_every=1, checkpoint_every=2, steps=2, image_every=0, eval_every=0,
                  background=None, cache_dir=str(tmp_path / "cache"))
    fit(cfg, tmp_path / "run")
    fit(replace(cfg, steps=4), tmp_path / "run", resume=True)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    assert all(x["identity"] > 0 and 0 <= x["id_acc"] <= 1 and x["id_ce"] > 0 for x in lines)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    from train.models.config import MODEL_PRESETS

    critic = state["extra"]["critic"]["net"]
    assert critic["net.2.weight"].shape[0] == 2 and critic["net.0.weight"].shape[1] == MODEL_PRESETS["tiny"].tv_dim


def test_the_cli_offers_every_variant_the_trainer_knows():
    from train.ssl.variants import VARIANTS
    from tvstream.cli.train import VARIANT_NAMES

    assert sorted(VARIANT_NAMES) == sorted(VARIANTS)
