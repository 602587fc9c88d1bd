"""Self-supervised training end to end at `tiny` size: every variant learns, resume is exact, configs are checked."""

from dataclasses import replace

import pytest
import torch

from fixed_batch import train_on_fixed_batch
from train.checkpoint import load_checkpoint
from train.data import SamplingConfig, VideoDataset
from train.losses.reconstruction import PerceptualNet
from train.models.ssl_model import SSLModel
from train.ssl.config import TrainConfig, config_for
from train.ssl.fit import fit, model_config
from train.ssl.objective import LossWeights, ssl_loss
from train.ssl.variants import VARIANTS
from tvstream.errors import CheckpointError


@pytest.fixture(scope="module")
def fixed_batch(clip_dir, tmp_path_factory):
    ds = VideoDataset(clip_dir, size=(64, 64), sampling=SamplingConfig(near=5, far=40),
                      cache_dir=tmp_path_factory.mktemp("cache"), with_labels=False)
    items = [ds[i] for i in range(0, 400, 50)]  # 8 items of (ref, near, far, mid)
    return {k: torch.as_tensor(__import__("numpy").stack([it[k] for it in items])) for k in ("frames", "distance")}


# DrNet: test_baselines; Ours-noID: test_identity_adversary (both need their critic)
@pytest.mark.parametrize("name", sorted(n for n in VARIANTS if not (VARIANTS[n].adversarial or VARIANTS[n].identity)))
def test_every_variant_trains_on_a_fixed_batch(name, fixed_batch):
    variant = VARIANTS[name]
    cfg = TrainConfig(variant=name, model="tiny")
    torch.manual_seed(0)
    model = SSLModel(model_config(cfg))
    perceptual = PerceptualNet() if variant.use_decoder else None
    stage = "gravity" if variant.gravity else "temporal"
    weights = LossWeights(temporal=1.0)  # make the temporal term visible at this scale

    def step_loss(step):
        out = model(fixed_batch["frames"], None, torch.Generator().manual_seed(step))
        return ssl_loss(out, fixed_batch["distance"], variant, weights, perceptual, 40.0, stage)

    train_on_fixed_batch(model, step_loss)  # finite every step, lower at the end


def _tiny(clip_dir, **kw):
    return replace(config_for("studio"), model="tiny", data=str(clip_dir), split=None, batch_size=4, workers=0,
                   log_every=1, checkpoint_every=3, **kw)


def test_resume_equals_uninterrupted_training(clip_dir, tmp_path):
    cfg = _tiny(clip_dir, steps=6)
    straight = load_checkpoint(fit(cfg, tmp_path / "a"))
    fit(replace(cfg, steps=3), tmp_path / "b")
    with open(tmp_path / "b" / "metrics.jsonl", "a") as f:  # a line logged after the last checkpoint, then a crash
        f.write('{"step": 5, "stage": "temporal", "loss": 1.0}\n')
    resumed = load_checkpoint(fit(cfg, tmp_path / "b", resume=True))
    assert straight["step"] == resumed["step"] == 6

    def steps(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["stage"]) for r in map(__import__("json").loads, lines)]

    assert steps("b") == steps("a")  # the orphan line is gone: one clean curve
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_two_stage_gravity_schedule_logs_both_stages(clip_dir, tmp_path):
    import json

    cfg = _tiny(clip_dir, steps=4, variant="Ours+gravity", gravity_steps=2, background=None)
    fit(cfg, tmp_path)
    stages = [json.loads(line)["stage"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert stages == ["gravity", "gravity", "temporal", "temporal"]


def test_checkpoint_of_another_variant_is_refused(clip_dir, tmp_path):
    fit(_tiny(clip_dir, steps=1, background=None), tmp_path)
    with pytest.raises(CheckpointError, match="variant='AE-STN-Dec'"):
        fit(_tiny(clip_dir, steps=2, variant="AE-STN-Dec", background=None), tmp_path, resume=True)


def test_weak_2d_head_learns_the_labeled_joints(rig_dir, tmp_path):
    import json

    cfg = replace(config_for("studio"), model="tiny", data=str(rig_dir), split=None, label_splits=("train",),
                  variant="Ours+2D", near=3, far=20, batch_size=4, workers=0, log_every=1, steps=12,
                  background=None)
    fit(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    weak = [r["weak2d"] for r in rows]
    assert all(w > 0 for w in weak) and sum(weak[-3:]) < sum(weak[:3])


def test_pixels_to_crop_inverts_the_crop():
    from train.models.spatial import pixels_to_crop

    # a 100x200 frame, box centred at pixel (149.5, 49.5) -> normalised (0.5, 0), half-size 0.25
    pts = torch.tensor([[[149.5, 49.5], [199.5, 49.5]]])
    out = pixels_to_crop(pts, torch.tensor([[0.25, 0.25]]), torch.tensor([[0.5, 0.0]]), (100, 200))
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.0], [2.0, 0.0]]]))


def test_a_run_writes_curves_grids_and_box_iou(rig_dir, tmp_path):
    import json

    from PIL import Image

    cfg = replace(config_for("studio"), model="tiny", data=str(rig_dir), split=None, eval_split="train",
                  near=3, far=20, batch_size=4, workers=0, log_every=1, steps=3, background=None)
    fit(cfg, tmp_path)
    assert Image.open(tmp_path / "loss_curves.png").size == (900, 420)
    grid = Image.open(tmp_path / "images" / "recon_000003.png")
    assert grid.size == (5 * 32, 4 * 32)  # frame+box | crop | recon | mask | swap, one row per item
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if "eval" in line]
    assert len(evals) == 1 and 0 <= evals[0]["box_iou"] <= 1


@pytest.mark.parametrize("variant", ["Ours", "DSL-STN-Dec"])
def test_two_process_ddp_run_on_cpu(rig_dir, tmp_path, variant):
    """torchrun with 2 CPU processes (gloo): rank 0 alone writes one checkpoint and one metrics line per log."""
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "tvstream",
           "-q", "train", "ssl", "--data", str(rig_dir), "--out", str(out), "--config", "tiny", "--variant", variant,
           "--steps", "3", "--batch-size", "4", "--workers", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == 3 and state["extra"]["world_size"] == 2
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["stage"] == "temporal"] == [3]


def test_mv_css_trains_on_synchronised_views(rig_dir, tmp_path):
    import json

    cfg = replace(config_for("studio"), model="tiny", data=str(rig_dir), split=None, variant="MV-CSS", near=3,
                  far=20, batch_size=4, workers=0, log_every=1, steps=4, background=None)
    fit(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["stage"] == "temporal"] == [1, 2, 3, 4]
    assert all(r["temporal"] >= 0 for r in rows if r["stage"] == "temporal")


def test_checkpoints_from_before_a_new_config_field_still_resume(tmp_path):
    from train.checkpoint import load_checkpoint, save_checkpoint
    from tvstream.errors import CheckpointError

    path = save_checkpoint(tmp_path / "old.pt", config={"weights": {"pixel": 2.0}}, step=5,
                           model=torch.nn.Linear(2, 2))
    now = {"weights": {"pixel": 2.0, "content": 1.0}}  # a weight added since the checkpoint was written
    with pytest.raises(CheckpointError, match="weights"):
        load_checkpoint(path, expect=now, keys=("weights",))
    upgrade = lambda stored: {"weights": {"content": 1.0, **stored["weights"]}}  # noqa: E731
    assert load_checkpoint(path, expect=now, keys=("weights",), upgrade=upgrade)["step"] == 5


@pytest.mark.parametrize("in_frame", [False, True])
def test_weak_2d_in_frame_coordinates_pulls_the_box_and_the_paper_form_does_not(fixed_batch, in_frame):
    variant = VARIANTS["Ours+2D"]
    torch.manual_seed(0)
    model = SSLModel(model_config(TrainConfig(variant="Ours+2D", model="tiny")))
    out = model(fixed_batch["frames"], None, torch.Generator().manual_seed(0))
    out.scale.retain_grad()
    out.centre.retain_grad()
    b, s = out.scale.shape[:2]
    joints = torch.full((b, s, 17, 2), 60.0)  # every joint at pixel (60, 60) of the 64x64 frame: bottom right
    weights = LossWeights(pixel=0, perceptual=0, temporal=0, box_prior=0, weak2d_box=in_frame)
    loss, terms = ssl_loss(out, fixed_batch["distance"], variant, weights, None, 40.0, joints2d=joints,
                           visible=torch.ones(b, s, 17, dtype=torch.bool), frame_size=(64, 64))
    loss.backward()
    if in_frame:  # descending the loss moves every box centre towards the joints (+x, +y)
        assert (out.centre.grad < 0).all(), out.centre.grad
    else:
        assert out.centre.grad is None or (out.centre.grad == 0).all()


def test_reconstruction_grid_of_a_mixed_precision_step(fixed_batch, tmp_path):
    """An AMP step leaves half-precision outputs; the picture writer decodes outside autocast (a CUDA crash once)."""
    from train.ssl.reports import reconstruction_grid

    model = SSLModel(model_config(TrainConfig(model="tiny")))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(fixed_batch["frames"], None, torch.Generator().manual_seed(0))
    assert out.tv.dtype == torch.bfloat16
    png = reconstruction_grid(model, out, None, tmp_path / "grid.png")
    assert png.stat().st_size > 0


def test_config_overrides_reach_fields_and_loss_weights():
    from train.ssl.config import apply_overrides

    cfg = apply_overrides(config_for("studio"), ["detector_lr_scale=10", "weights.foreground=0",
                                                 "weights.box_scale=[0.25, 0.45]", "eval_split=labeled"])
    assert cfg.detector_lr_scale == 10 and cfg.weights.foreground == 0 and cfg.weights.box_scale == (0.25, 0.45)
    assert cfg.eval_split == "labeled" and cfg.weights.centre_prior  # untouched fields keep the preset's values
    with pytest.raises(ValueError, match="unknown config key 'lr_scale'"):
        apply_overrides(cfg, ["lr_scale=2"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_overrides(cfg, ["steps"])


def test_detector_learning_rate_scale_makes_its_own_adam_group():
    from train.ssl.fit import _param_groups

    model = SSLModel(model_config(TrainConfig(model="tiny")))
    groups = _param_groups(model, TrainConfig(model="tiny", detector_lr_scale=10, lr=1e-4))
    assert groups[1]["lr"] == pytest.approx(1e-3)
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.detector.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_a_fresh_run_refuses_a_folder_that_holds_one(rig_dir, tmp_path):
    from train.ssl.fit import TrainingError

    cfg = replace(config_for("studio"), model="tiny", data=str(rig_dir), split=None, batch_size=2, workers=0,
                  steps=1, background=None, eval_every=0, image_every=0)
    fit(cfg, tmp_path)
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(TrainingError, match="--resume"):
        fit(cfg, tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text() == before  # nothing appended, the checkpoint kept


def test_bfloat16_autocast_on_cpu_trains_and_resumes_exactly(rig_dir, tmp_path):
    cfg = replace(config_for("studio"), model="tiny", data=str(rig_dir), split=None, eval_split="train", near=3,
                  far=20, batch_size=4, workers=0, steps=4, background=None, cpu_amp=True, image_every=2,
                  checkpoint_every=2)
    straight = load_checkpoint(fit(cfg, tmp_path / "a"))
    fit(replace(cfg, steps=2), tmp_path / "b")
    resumed = load_checkpoint(fit(cfg, tmp_path / "b", resume=True))
    for key, value in straight["model"].items():
        assert value.dtype != torch.bfloat16 and torch.equal(value, resumed["model"][key]), key  # fp32 weights
    assert (tmp_path / "a" / "images" / "recon_000004.png").is_file()  # pictures of bf16 outputs
