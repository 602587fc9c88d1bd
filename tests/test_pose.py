"""Few-label pose: crop coordinates, the labeled subset, the regressor learning a known map, and the whole
path SSL checkpoint -> `train pose` -> `evaluate` -> ONNX with the trained head."""

import json
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
import torch

from train.models.spatial import pixels_to_crop
from train.pose.features import LabeledFeatures, action_of
from train.pose.fit import PoseConfig, load_regressor, pool_subset, predict, train_regressor
from tvstream.errors import CheckpointError


def test_pixels_to_crop_inverts_the_exported_mapping():
    # a 100x200 (H x W) frame, box centre (0.5, -0.25), half-size (0.25, 0.5) in normalised units
    scale, centre = np.array([[0.25, 0.5]]), np.array([[0.5, -0.25]])
    crop = np.array([[[0.0, 0.0], [1.0, -1.0]]])  # the box centre and its top-right corner
    half = np.array([100.0, 50.0])  # (W/2, H/2)
    pixels = (centre[:, None] + scale[:, None] * crop + 1) * half - 0.5  # the export graph's formula
    assert np.allclose(pixels, [[[149.5, 37.0], [174.5, 12.0]]])
    got = pixels_to_crop(torch.as_tensor(pixels), torch.as_tensor(scale), torch.as_tensor(centre), (100, 200))
    assert np.allclose(got.numpy(), crop)


def test_pool_subset_is_seeded_sorted_and_never_empty():
    a = pool_subset(1000, 0.01, seed=3)
    assert len(a) == 10 and len(set(a)) == 10 and (np.diff(a) > 0).all()
    assert np.array_equal(a, pool_subset(1000, 0.01, seed=3))
    assert not np.array_equal(a, pool_subset(1000, 0.01, seed=4))
    assert len(pool_subset(50, 0.001, seed=0)) == 1


def test_action_names_of_synthetic_and_foreign_sequences():
    assert action_of("S03_01_arm_swings") == "arm_swings"
    assert action_of("dive_take_3") == "dive_take_3"


def _linear_features(n: int, rng: np.random.Generator, w: np.ndarray) -> LabeledFeatures:
    tv = rng.normal(size=(n, 8)).astype(np.float32)
    pose3d = (tv @ w).reshape(n, 17, 3) * 100  # mm, a linear function of the feature
    crop2d = pose3d[..., :2] / 1000
    return LabeledFeatures(tv=tv, scale=np.ones((n, 2)), centre=np.zeros((n, 2)), pose3d=pose3d, crop2d=crop2d,
                           visible=np.ones((n, 17), bool), box=np.zeros((n, 4)), subject=np.array(["s"] * n),
                           action=np.array(["a"] * n))


def test_regressor_learns_a_linear_map_far_better_than_the_mean_pose():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 51)).astype(np.float32)
    train, test = _linear_features(512, rng, w), _linear_features(128, rng, w)
    cfg = PoseConfig(features="", data="", regressor="mlp_small", steps=400, lr=1e-3)
    model, stats = train_regressor(train, cfg)
    pred3d, pred2d = predict(model, stats, test.tv)
    err = np.linalg.norm(pred3d - test.pose3d, axis=-1).mean()
    mean_pose_err = np.linalg.norm(train.pose3d.mean(0) - test.pose3d, axis=-1).mean()
    assert err < 0.2 * mean_pose_err, (err, mean_pose_err)
    assert np.abs(pred2d - test.crop2d).mean() < 0.2 * np.abs(test.crop2d).mean()


@pytest.fixture(scope="module")
def labeled_rig(rig_dir, tmp_path_factory):
    """The pattern rig as a few-label dataset: cameras 0-1 form the labeled pool, camera 2 is the test split."""
    from tvstream.manifest import load_manifest, write_manifest

    root = tmp_path_factory.mktemp("pose")
    rig = load_manifest(rig_dir / "manifest.json")
    entries = [replace(e, split="test" if e.camera == "c2" else "labeled") for e in rig]
    write_manifest(root / "manifest.json", entries)
    return root / "manifest.json"


@pytest.fixture(scope="module")
def tiny_ssl(tmp_path_factory):
    from train.checkpoint import save_checkpoint
    from train.models.config import MODEL_PRESETS
    from train.models.ssl_model import SSLModel

    torch.manual_seed(0)
    cfg = MODEL_PRESETS["tiny"]
    path = tmp_path_factory.mktemp("ssl") / "last.pt"
    return save_checkpoint(path, config={"variant": "Ours"}, step=7, model=SSLModel(cfg),
                           extra={"model_config": cfg.to_dict()})


def test_train_pose_evaluate_and_export_with_the_trained_head(labeled_rig, tiny_ssl, tmp_path):
    from engines.backends import load_backend
    from engines.export import export_onnx
    from train.pose.evaluate import evaluate_pose
    from train.pose.features import extract_features, labeled_frames
    from train.pose.fit import feature_model, fit_pose

    cfg = PoseConfig(features=str(tiny_ssl), data=str(labeled_rig), fraction=0.5, regressor="mlp_small",
                     steps=30, stride=4)
    path = fit_pose(cfg, tmp_path / "pose")
    regressor, stats, stored, info, _ = load_regressor(tmp_path / "pose")
    assert stored == cfg and info["pool_frames"] == 2 * 60 and info["frames"] == 60 and info["ssl_step"] == 7

    result = evaluate_pose(tmp_path / "pose", "test", stride=4)
    assert result["frames"] == 60 and result["subjects"] == ["s1"]
    assert 0 < result["p_mpjpe"] <= result["n_mpjpe"] <= result["mpjpe"] + 1e-6
    assert json.loads((tmp_path / "pose" / "eval_test.json").read_text())["mpjpe"] == result["mpjpe"]

    # the exported graph gives the regressor's own prediction, and says it is trained
    meta = export_onnx(tiny_ssl, tmp_path / "m.onnx", regressor=path)
    assert meta.trained
    model, _ = feature_model(cfg)
    ds = labeled_frames(labeled_rig, model.cfg, "test", stride=40)
    feats = extract_features(model, ds)
    frames = np.concatenate([ds[i]["frames"] for i in range(len(ds))])
    out = load_backend(tmp_path / "m.onnx", "onnxruntime").infer(frames)
    want3d, _ = predict(regressor, stats, feats.tv)
    assert np.abs(out["pose3d"] - want3d).max() < 0.05  # mm


def test_a_foreign_file_is_not_a_regressor(tmp_path):
    bad = tmp_path / "regressor.pt"
    torch.save({"format": "something/1"}, bad)
    with pytest.raises(CheckpointError, match="not a tvstream regressor"):
        load_regressor(tmp_path)
    with pytest.raises(CheckpointError, match="no such regressor"):
        load_regressor(tmp_path / "missing")


def test_random_feature_regressors_are_not_exported(tiny_ssl, tmp_path):
    from engines.export import export_onnx
    from train.pose.fit import save_regressor
    from train.pose.regressors import REGRESSOR_PRESETS, PoseRegressor

    cfg = PoseConfig(features=str(tiny_ssl), data="", init="random", regressor="mlp_small")
    reg = PoseRegressor(replace(REGRESSOR_PRESETS["mlp_small"], in_dim=32))
    path = save_regressor(tmp_path / "regressor.pt", reg, {}, cfg, {})
    with pytest.raises(CheckpointError, match="random"):
        export_onnx(tiny_ssl, tmp_path / "m.onnx", regressor=path)


def test_finetuning_moves_the_box_onto_the_labels_and_travels_into_evaluation_and_export(labeled_rig, tiny_ssl,
                                                                                           tmp_path):
    """Supervised from scratch (random init + fine-tuning): the box learns from labeled boxes, and evaluate and
    export read the fine-tuned detector/encoder, not the checkpoint's."""
    from engines.backends import load_backend
    from engines.export import export_onnx
    from train.pose.evaluate import evaluate_pose
    from train.pose.features import extract_features, labeled_frames
    from train.pose.finetune import box_target
    from train.pose.fit import feature_model, fit_pose

    cfg = PoseConfig(features=str(tiny_ssl), data=str(labeled_rig), fraction=0.5, regressor="mlp_small",
                     steps=20, stride=4, init="random", finetune_steps=100, finetune_batch=16, finetune_lr=3e-4)
    path = fit_pose(cfg, tmp_path / "pose")
    loaded = load_regressor(path)
    assert loaded.ssl_weights is not None and loaded.config.finetune_steps == 100

    def boxes(model) -> tuple[np.ndarray, np.ndarray]:  # (predicted, labeled) centre x, y, half-size x, y
        feats = extract_features(model, labeled_frames(labeled_rig, model.cfg, "labeled", stride=4))
        return np.concatenate([feats.centre, feats.scale], 1), box_target(feats.box, model.cfg.frame_size).numpy()

    before, tuned = feature_model(cfg)[0], feature_model(cfg, loaded.ssl_weights)[0]
    (start, labeled), (end, _) = boxes(before), boxes(tuned)
    # the random detector's one big box (half-size 0.7) shrinks towards the labeled ones (0.11 x 0.15)
    assert (start[:, 2:] > 0.69).all() and (end[:, 2:].mean(0) < start[:, 2:].mean(0) - 0.05).all(), end.mean(0)
    assert np.abs(end[:, :2] - labeled[:, :2]).mean() < np.abs(start[:, :2] - labeled[:, :2]).mean()

    result = evaluate_pose(tmp_path / "pose", "test", stride=4)
    assert result["recipe"]["finetune_steps"] == 100 and result["recipe"]["init"] == "random"

    # a fine-tuned baseline is a whole model: it exports, and the graph gives the fine-tuned prediction
    export_onnx(tiny_ssl, tmp_path / "m.onnx", regressor=path)
    ds = labeled_frames(labeled_rig, tuned.cfg, "test", stride=40)
    feats = extract_features(tuned, ds)
    frames = np.concatenate([ds[i]["frames"] for i in range(len(ds))])
    out = load_backend(tmp_path / "m.onnx", "onnxruntime").infer(frames)
    want3d, _ = predict(loaded.model, loaded.stats, feats.tv)
    assert np.abs(out["pose3d"] - want3d).max() < 0.05  # mm


def test_frames_with_2d_labels_only_are_left_out_of_the_regressor(labeled_rig, tiny_ssl, tmp_path):
    from tvstream.labels import load_labels, save_labels
    from tvstream.manifest import load_manifest, write_manifest
    from train.pose.fit import fit_pose

    entries = []
    for e in load_manifest(labeled_rig):
        labels = load_labels(e.labels)
        if e.split == "labeled":  # every 8th frame (every other one of the stride-4 pool) keeps only its 2D joints
            joints3d = labels.joints3d.copy()
            joints3d[::8] = np.nan
            labels = replace(labels, joints3d=joints3d)
        save_labels(tmp_path / Path(e.labels).name, labels)
        entries.append(replace(e, labels=tmp_path / Path(e.labels).name))
    write_manifest(tmp_path / "manifest.json", entries)
    cfg = PoseConfig(features=str(tiny_ssl), data=str(tmp_path / "manifest.json"), regressor="mlp_small",
                     steps=5, stride=4)
    info = load_regressor(fit_pose(cfg, tmp_path / "pose")).info
    assert info["pool_frames"] == 120 and info["frames_2d_only"] == 60 and info["frames"] == 60

    only2d = replace(cfg, train_split="test")  # no 3D at all: a clear error, not a NaN regressor
    for e in entries:
        if e.split == "test":
            labels = load_labels(e.labels)
            save_labels(e.labels, replace(labels, joints3d=np.full_like(labels.joints3d, np.nan)))
    with pytest.raises(CheckpointError, match="has 3D joints"):
        fit_pose(only2d, tmp_path / "pose2d")


def test_train_pose_reads_a_folder_of_hand_labeled_clips(tiny_ssl, tmp_path):
    """A user's own labels: clip.mp4 + clip.json (tvstream.handlabels/1), some frames with 3D, some 2D only."""
    import subprocess
    import sys

    from train.data.pattern_video import pattern_labels, write_pattern_video
    from tvstream.labels import HANDLABELS_SCHEMA
    from tvstream.skeleton import JOINT_NAMES

    clips = tmp_path / "my_labels"
    clips.mkdir()
    write_pattern_video(clips / "clip.mp4", 60)
    truth = pattern_labels(60)
    frames = [{"frame": int(f), "joints2d": truth.joints2d[f].tolist(),
               **({"joints3d": truth.joints3d[f].tolist()} if f % 4 == 0 else {})} for f in range(0, 60, 2)]
    (clips / "clip.json").write_text(json.dumps({"schema": HANDLABELS_SCHEMA, "video": "clip.mp4",
                                                 "joints": list(JOINT_NAMES), "frames": frames}))
    out = subprocess.run([sys.executable, "-m", "tvstream", "train", "pose", "--features", str(tiny_ssl),
                          "--labels", str(clips), "--out", str(tmp_path / "pose"), "--steps", "5",
                          "--regressor", "mlp_small"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    info = load_regressor(tmp_path / "pose").info
    assert (info["pool_frames"], info["frames"], info["frames_2d_only"]) == (30, 15, 15)


def test_train_pose_never_takes_test_clips_into_the_pool(tiny_ssl, tmp_path):
    """A manifest without a labeled split: the pool is every labeled clip except the held-out test ones."""
    import subprocess
    import sys

    from train.data.pattern_video import pattern_labels, write_pattern_video
    from tvstream.labels import save_labels
    from tvstream.manifest import VideoEntry, write_manifest

    entries = []
    for name, split in (("a", "train"), ("b", "test")):
        video = write_pattern_video(tmp_path / f"{name}.mp4", 40)
        save_labels(tmp_path / f"{name}.npz", pattern_labels(40, sequence=name))
        entries.append(VideoEntry(video=video, labels=tmp_path / f"{name}.npz", subject=name, sequence=name,
                                  camera="c0", split=split))
    write_manifest(tmp_path / "manifest.json", entries)
    out = subprocess.run([sys.executable, "-m", "tvstream", "train", "pose", "--features", str(tiny_ssl),
                          "--labels", str(tmp_path / "manifest.json"), "--out", str(tmp_path / "pose"),
                          "--steps", "3", "--regressor", "mlp_small"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = load_regressor(tmp_path / "pose")
    assert loaded.info["pool_frames"] == 40 and loaded.info["subjects"] == ["a"]
    assert tuple(loaded.config.train_split) == ("train",)
