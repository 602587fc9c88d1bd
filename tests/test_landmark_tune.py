"""The landmark network's fine-tuning (``train.landmark_tune``): crops, the tune's resume and 3D detachment, the pose
flag's stage, the ridge 3D readout, the work folder and the CLI, a start from a model's head (``head_init``) and
``tvstream adapt`` from a landmark model; on MediaPipe Lite's structure with random weights."""

from __future__ import annotations

import dataclasses
import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from train.data.pattern_video import pattern_labels, write_pattern_video
from train.landmark_tune.config import LandmarkTuneConfig
from train.posenet.model import LandmarkPoseHead
from tvstream.errors import CheckpointError, LabelError
from tvstream.labels import save_labels
from tvstream.manifest import VideoEntry, write_manifest
from tvstream.skeleton import H36M_17

S = 256
TEACHER_CONFIDENCE = [0.0 if name in ("hip", "spine", "thorax", "neck", "head") else 0.9 for name in H36M_17.names]


def _cfg(**changes) -> LandmarkTuneConfig:
    """A tiny run on Lite's structure (no export: there is no Lite size with its own 3D convolution)."""
    base = dict(trunk="blazepose_lite", size=None, steps=4, warmup=2, lr=1e-3, batch_render=1, batch_real=1,
                checkpoint_every=2, log_every=1, presence_steps=2, presence_batch=2, skip_clips=1, threads=2)
    return LandmarkTuneConfig(**{**base, **changes})


@pytest.fixture(autouse=True)
def _no_tflite(monkeypatch):
    """MediaPipe's weights stay the fresh ones (seeded by the stage): no teacher venv needed."""
    monkeypatch.setattr(LandmarkPoseHead, "load_pretrained", lambda self, tflite=None: None)


def _crops(n: int, with3d: bool, seed: int) -> dict[str, np.ndarray]:
    """``n`` random crops with targets, as ``crops.load_crops`` gives them."""
    g = np.random.default_rng(seed)
    y3 = g.normal(0, 0.3, (n, 17, 3)).astype(np.float32)
    y3 = y3 - y3[:, :1] if with3d else np.full_like(y3, np.nan)
    return {"x": g.integers(0, 256, (n, S, S, 3), dtype=np.uint8), "y2": g.uniform(-0.5, 0.5, (n, 17, 2)).astype(
        np.float32), "vis": g.random((n, 17)) < 0.9, "y3": y3, "clip": np.zeros(n, np.int32),
            "frame": np.arange(n, dtype=np.int32)}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A rendered shard of two labeled pattern clips (2D + 3D), a real folder of one clip labeled in 2D alone by a
    teacher (as the cut-outs: confidence 0 on the hip, spine, thorax, neck and head), and two person-free plates."""
    from PIL import Image

    root = tmp_path_factory.mktemp("landmark_tune_data")
    shard, real, plates = root / "renders" / "shard_a", root / "real", root / "plates"
    for folder in (shard, real, plates):
        folder.mkdir(parents=True)
    entries = []
    for cam in range(2):
        video = write_pattern_video(shard / f"c{cam}.mp4", 12, camera=cam)
        save_labels(shard / f"c{cam}.npz", pattern_labels(12, camera=cam))
        entries.append(VideoEntry(video=video, labels=shard / f"c{cam}.npz", camera=f"c{cam}"))
    write_manifest(shard / "manifest.json", entries)
    write_pattern_video(real / "p.mp4", 6, camera=2)
    labels = pattern_labels(6, camera=2)
    frames = [{"frame": int(f), "joints2d": labels.joints2d[i].tolist(), "box": labels.box[i].tolist(),
               "visible": [True] * 17, "confidence": TEACHER_CONFIDENCE} for i, f in enumerate(labels.frames)]
    (real / "p.json").write_text(json.dumps({"schema": "tvstream.handlabels/1", "video": "p.mp4",
                                             "joints": list(H36M_17.names), "frames": frames}))
    g = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(g.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(plates / f"plate_{i}.png")
    return {"renders": root / "renders", "real": real, "plates": plates}


# ---- crops -----------------------------------------------------------------------------------------------------


def test_a_joint_lands_at_its_hand_computed_crop_coordinate_and_on_its_pixel():
    """A joint at pixel (120, 60) (labels put pixel centres at integers) in a box [100, 40, 140, 100]: the square is
    1.25 x 60 = 75 px around (120, 70), so the joint is at ((120.5 - 120) / 37.5, (60.5 - 70) / 37.5) in crop units,
    and the crop's brightest pixel (the joint's pixel, white on black) is there to within half a crop pixel."""
    from train.landmark_tune.crops import cut, square, targets

    image = np.zeros((150, 200, 3), np.uint8)
    image[60, 120] = 255
    cx, cy, side = square(np.array([100.0, 40.0, 140.0, 100.0]), 1.25)
    assert (cx, cy, side) == (120.0, 70.0, 75.0)
    joints2d = np.zeros((17, 2), np.float32)
    joints2d[5] = [120, 60]
    joints3d = np.arange(51, dtype=np.float32).reshape(17, 3) * 100  # mm
    visible = np.ones(17, bool)
    visible[3] = False
    y2, vis, y3 = targets(joints2d, visible, joints3d, cx, cy, side)
    np.testing.assert_allclose(y2[5], [0.5 / 37.5, -9.5 / 37.5], rtol=1e-6)
    assert not vis[3] and vis.sum() == 16 and y2[3].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(y3[2], [0.6, 0.6, 0.6], rtol=1e-6)  # root-relative, metres
    crop = cut(image, cx, cy, side, S).astype(float).sum(-1)
    row, col = np.unravel_index(crop.argmax(), crop.shape)
    np.testing.assert_allclose([(2 * col + 1) / S - 1, (2 * row + 1) / S - 1], y2[5], atol=1 / S)


def test_a_turned_crop_puts_the_joint_where_the_turn_takes_it_and_turns_its_3d():
    """Turned by a quarter (a body lying with its shoulders to the right stands upright): a joint 30 px right of the
    centre is 30 px above it in the crop, its pixel is there, and the 3D's x and y turn the same way (z kept)."""
    from train.landmark_tune.crops import body_angle, cut, targets

    image = np.zeros((150, 200, 3), np.uint8)
    image[70, 150] = 255  # 30 px right of the centre (120.5, 70.5) of pixel centres -> edges
    joints2d = np.zeros((17, 2), np.float32)
    joints2d[5] = [150, 70]
    joints3d = np.zeros((17, 3), np.float32)
    joints3d[5] = [300.0, 0.0, 500.0]  # mm, right of the pelvis
    cx, cy, side, a = 120.5, 70.5, 75.0, np.pi / 2
    y2, _, y3 = targets(joints2d, np.ones(17, bool), joints3d, cx, cy, side, a)
    np.testing.assert_allclose(y2[5], [0.0, -30 / 37.5], atol=1e-6)
    np.testing.assert_allclose(y3[5], [0.0, -0.3, 0.5], atol=1e-6)
    crop = cut(image, cx, cy, side, S, a).astype(float).sum(-1)
    row, col = np.unravel_index(crop.argmax(), crop.shape)
    np.testing.assert_allclose([(2 * col + 1) / S - 1, (2 * row + 1) / S - 1], y2[5], atol=1.5 / S)
    # the body's angle, as the runtime's tracker reads it: hips below shoulders 0; shoulders right of hips a quarter
    body = np.zeros((17, 2), np.float32)
    hips, shoulders = [H36M_17.index("rhip"), H36M_17.index("lhip")], [H36M_17.index("rshoulder"),
                                                                      H36M_17.index("lshoulder")]
    body[hips], body[shoulders] = [[100, 100], [110, 100]], [[100, 50], [110, 50]]
    known = np.ones(17, bool)
    assert body_angle(body, known) == 0.0
    body[shoulders] = [[150, 100], [150, 100]]
    body[hips] = [[100, 100], [100, 100]]
    assert body_angle(body, known) == pytest.approx(np.pi / 2)
    known[hips[0]] = False
    assert body_angle(body, known) is None


def test_crops_of_a_rendered_shard_skip_its_design_clips_and_take_every_nth_frame(data: dict[str, Path]):
    """``skip_clips`` 1 of 2 clips, every 3rd of 12 labeled frames: 4 crops of the second clip; unjittered, the
    pattern's square (the labeled box) fills the crop's middle and its joints land where the box says."""
    from train.landmark_tune.crops import build_crops
    from train.data.pattern_video import square_box

    cfg = _cfg(renders=(str(data["renders"]),), jitter_scale=(1.0, 1.0), jitter_shift=0.0)
    [(n, total, rows)] = list(build_crops(cfg, "render"))
    assert (n, total, rows["frame"]) == (0, 1, [0, 3, 6, 9])
    labels = pattern_labels(12, camera=1)
    x0, y0, x1, y1 = square_box(6, 160, 120)
    half = 1.25 * max(x1 - x0, y1 - y0) / 2
    want = (labels.joints2d[6] + 0.5 - [(x0 + x1) / 2, (y0 + y1) / 2]) / half
    np.testing.assert_allclose(rows["y2"][2], want, atol=1e-5)
    np.testing.assert_allclose(rows["y3"][2], (labels.joints3d[6] - labels.joints3d[6][:1]) / 1000, atol=1e-6)
    crop = rows["x"][2]
    assert crop[S // 2, S // 2].min() > 200 and crop[8, 8].max() < 100  # the white square, the grey background


def test_a_teacher_s_joints_below_min_confidence_count_as_not_in_view(data: dict[str, Path]):
    """The recipe as run (``min_confidence`` 0) trains every joint the teacher gave; 0.5 leaves out the five it
    gave confidence 0."""
    from train.landmark_tune.crops import build_crops

    unsure = [H36M_17.names.index(n) for n in ("hip", "spine", "thorax", "neck", "head")]
    for threshold, in_view in ((0.0, 17), (0.5, 12)):
        [(_, _, rows)] = list(build_crops(_cfg(real=str(data["real"]), min_confidence=threshold), "real"))
        vis = np.stack(rows["vis"])
        assert len(vis) == 6 and (vis.sum(1) == in_view).all() and vis[:, unsure].any() == (threshold == 0.0)


def test_the_rendered_crops_are_drawn_per_crop_per_shard_or_per_scenario(tmp_path: Path):
    """Two ski shards (2 clips, 1 clip) and a dive shard (1 clip), in the folders' order; 7 crops: 4 of a_ski, 1 of
    b_ski, 2 of c_dive.
    "shard" gives each shard a third, "scenario" ski and dive a half each, spread evenly over their crops."""
    from train.landmark_tune.crops import draw_weights

    for name, clips, scenario in (("a_ski", 2, "ski"), ("b_ski", 1, "ski"), ("c_dive", 1, "dive")):
        shard = tmp_path / "renders" / name
        shard.mkdir(parents=True)
        entries = []
        for cam in range(clips):
            video = write_pattern_video(shard / f"c{cam}.mp4", 2, camera=cam)
            save_labels(shard / f"c{cam}.npz", pattern_labels(2, camera=cam))
            entries.append(VideoEntry(video=video, labels=shard / f"c{cam}.npz", camera=f"c{cam}"))
        write_manifest(shard / "manifest.json", entries)
        (shard / "synth_config.json").write_text(json.dumps({"scenario": scenario}))
    clip = np.array([0, 0, 0, 1, 2, 3, 3])  # a_ski's clips 0 and 1, b_ski's clip 2, c_dive's clip 3
    cfg = _cfg(renders=(str(tmp_path / "renders"),), skip_clips=0)
    assert draw_weights(cfg, clip) is None
    np.testing.assert_allclose(draw_weights(dataclasses.replace(cfg, render_draw="shard"), clip),
                               [1 / 12] * 4 + [1 / 3] + [1 / 6] * 2)
    np.testing.assert_allclose(draw_weights(dataclasses.replace(cfg, render_draw="scenario"), clip),
                               [1 / 10] * 5 + [1 / 4] * 2)
    with pytest.raises(LabelError, match="clip 4 of 4 clips"):
        draw_weights(dataclasses.replace(cfg, render_draw="shard"), np.array([0, 4]))
    with pytest.raises(ValueError, match="render_draw must be one of"):
        _cfg(render_draw="clip")


def test_a_weighted_draw_takes_rows_by_their_weight():
    """A row of weight 0 is never drawn; two rows of weights 3 : 1 come about 3 : 1 (4000 draws)."""
    from train.landmark_tune.tune import draw

    crops = _crops(4, True, 0)
    g = torch.Generator().manual_seed(0)
    batch = draw(crops, 4000, g, _cfg(flip_p=0.0), torch.tensor([0.0, 3.0, 0.0, 1.0]))
    first = batch["y2"][:, 0, 0]
    picked = [(first == float(crops["y2"][i, 0, 0])).sum().item() for i in range(4)]
    assert picked[0] == picked[2] == 0 and sum(picked) == 4000 and 2.7 < picked[1] / picked[3] < 3.3


# ---- tune ------------------------------------------------------------------------------------------------------


def test_a_tune_stopped_and_resumed_reaches_the_weights_of_one_run_bit_for_bit(tmp_path: Path):
    from train.landmark_tune.tune import tune

    cfg = _cfg()
    render, real = _crops(3, True, 0), _crops(3, False, 1)
    whole = tune(cfg, render, real, tmp_path / "whole")

    def stop(step: int, stats: dict) -> None:
        if step == 3:  # after the checkpoint of step 2, before that of step 4
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(cfg, render, real, tmp_path / "stopped", progress=stop)
    assert torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)["step"] == 2
    resumed = tune(cfg, render, real, tmp_path / "stopped")
    start = LandmarkPoseHead("blazepose_lite", 17).state_dict()
    assert any(not torch.equal(whole[k], start[k]) for k in whole)  # it trained
    for name, tensor in whole.items():
        assert torch.equal(tensor, resumed[name]), name
    lines = (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_a_tune_with_its_early_layers_frozen_moves_only_the_layers_after_them(tmp_path: Path):
    from train.landmark_tune.tune import start_head, tune, tuned_state
    from train.pretrained.tflite_graph import early_convs

    cfg = _cfg(freeze_early=True)
    render, real = _crops(3, True, 0), _crops(3, False, 1)
    tuned = tune(cfg, render, real, tmp_path)
    start = start_head(cfg)
    early = tuple(f"trunk.graph.{k}." for k in early_convs(start.trunk.graph.spec))
    start = start.state_dict()
    assert len(early) == 17 and sum(k.startswith(early) for k in tuned) == 34  # 17 convolutions' weight and bias
    for k, v in tuned.items():
        if k.startswith(early):
            assert torch.equal(v, start[k]), k
    assert any(not torch.equal(v, start[k]) for k, v in tuned.items() if k.startswith("trunk.graph."))
    assert tuned_state(tmp_path, cfg) is not None
    with pytest.raises(CheckpointError, match="freeze_early"):
        tuned_state(tmp_path, _cfg())  # another tune: it is not taken for the unfrozen one


def test_early_layers_at_a_share_of_the_rate_move_by_that_share_and_the_rest_as_the_recipe(tmp_path: Path):
    from train.landmark_tune.tune import start_head, tune, tuned_state
    from train.pretrained.tflite_graph import early_convs

    # one step of AdamW from one start on one batch: each weight moves lr x m / (sqrt(v) + eps), the same gradient
    # in both runs, so the early layers' move is exactly early_lr x the recipe's and every other weight's the same
    render, real = _crops(3, True, 0), _crops(3, False, 1)
    whole = tune(_cfg(steps=1), render, real, tmp_path / "whole")
    slow = tune(_cfg(steps=1, early_lr=0.1), render, real, tmp_path / "slow")
    start = start_head(_cfg(steps=1))
    early = tuple(f"trunk.graph.{k}." for k in early_convs(start.trunk.graph.spec))
    start = start.state_dict()
    fast_move = slow_move = 0.0
    for k, v in whole.items():
        if not v.is_floating_point():
            continue
        if k.startswith(early):
            fast_move += float((v.double() - start[k].double()).abs().sum())
            slow_move += float((slow[k].double() - start[k].double()).abs().sum())
        else:
            torch.testing.assert_close(slow[k], v, rtol=0, atol=1e-6)
    assert fast_move > 1e-2 and slow_move / fast_move == pytest.approx(0.1, rel=0.01)
    assert tuned_state(tmp_path / "slow", _cfg(steps=1, early_lr=0.1)) is not None
    with pytest.raises(CheckpointError, match="early_lr"):
        tuned_state(tmp_path / "slow", _cfg(steps=1))  # another tune: not taken for the recipe's
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="early_lr must be in \\(0, 1\\]"):
            _cfg(early_lr=bad)
    with pytest.raises(ValueError, match="early_lr must be in"):
        _cfg(early_lr=0.5, freeze_early=True)


def test_the_early_map_distance_is_its_share_of_the_maps_power():
    from train.landmark_tune.tune import map_distance

    start = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
    assert float(map_distance(1.1 * start, start)) == pytest.approx(0.01, rel=1e-5)  # (0.1^2 x 14 / 4) / (14 / 4)
    assert float(map_distance(start + 1.0, start)) == pytest.approx(1.0 / 3.5, rel=1e-6)  # 1 / (14 / 4)
    assert float(map_distance(start, start)) == 0.0


def test_the_early_map_is_what_the_1_16_stage_reads_and_its_term_trains_only_the_early_layers():
    from train.landmark_tune.tune import EarlyMap, draw, tune_losses
    from train.pretrained.tflite_graph import early_convs

    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_lite", 17, joints3d=True)
    frozen = copy.deepcopy(head).requires_grad_(False)
    maps = EarlyMap(head), EarlyMap(frozen)
    early = early_convs(head.trunk.graph.spec)
    cfg = _cfg(early_distill=2.0)
    g = torch.Generator().manual_seed(0)
    parts = draw(_crops(2, True, 0), 2, g, cfg), draw(_crops(2, False, 1), 3, g, cfg)
    batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    terms = tune_losses(head, frozen, batch, 2, cfg, maps)
    assert maps[0].map.shape[0] == 5 and maps[1].map.shape[0] == 3  # the whole batch; the real rows alone
    assert maps[0].map.shape[-1] in (S // 16, S // 16 + 1)  # a 1/16 map (+1: padded for its strided read)
    assert float(terms["le"].detach()) == 0.0  # the same network
    torch.testing.assert_close(terms["loss"], terms["l2"] + terms["l3"] + cfg.distill * terms["ld"])
    with torch.no_grad():
        getattr(head.trunk.graph, early[-1]).bias.add_(0.5)  # the last early convolution's: the map moves
    terms = tune_losses(head, frozen, batch, 2, cfg, maps)
    assert float(terms["le"].detach()) > 1e-3
    torch.testing.assert_close(terms["loss"], terms["l2"] + terms["l3"] + terms["ld"] + 2.0 * terms["le"])
    head.zero_grad(set_to_none=True)
    terms["le"].backward()
    graph = head.trunk.graph
    assert all(getattr(graph, k).weight.grad is not None for k in early)
    assert getattr(graph, early[-1]).weight.grad.abs().sum() > 0
    assert getattr(graph, maps[0].key).weight.grad is None and head.joints3d.weight.grad is None
    for bad in (dict(early_distill=-1.0), dict(early_distill=1.0, freeze_early=True)):
        with pytest.raises(ValueError, match="early_distill must be >= 0"):
            _cfg(**bad)


def test_an_occluder_is_one_rectangle_of_a_plate_within_its_sizes_half_of_them_across_the_bottom():
    """On 200 random 64 px images at p = 1, from one plate of a single grey (0.5): each image differs from its
    input in exactly one rectangle, filled with 0.5, 0.3-1.0 of the side wide and 0.15-0.45 tall, about half
    touching the bottom row; the rest of the image untouched. At p = 0 the input comes back and the generator is
    not drawn from."""
    from train.landmark_tune.occluders import paste_plates

    x = torch.rand(200, 3, 64, 64) * 0.4  # never 0.5
    plate = (torch.full((3, 40, 50), 128, dtype=torch.uint8),)  # 128 / 255 = 0.502
    g = torch.Generator().manual_seed(0)
    out, hit = paste_plates(x, plate, 1.0, g)
    assert hit.all()
    bottoms = 0
    for i in range(200):
        ys, xs = torch.nonzero((out[i] != x[i]).any(0), as_tuple=True)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        assert len(ys) == (y1 - y0) * (x1 - x0)  # one filled rectangle
        torch.testing.assert_close(out[i, :, y0:y1, x0:x1], torch.full((3, y1 - y0, x1 - x0), 128 / 255))
        assert 0.3 * 64 - 1 <= x1 - x0 <= 64 and 0.15 * 64 - 1 <= y1 - y0 <= 0.45 * 64 + 1
        bottoms += y1 == 64
    assert 70 <= bottoms <= 150  # half across the bottom (and a few of the rest reach it)
    state = g.get_state()
    same, none = paste_plates(x, plate, 0.0, g)
    assert same is x and not none.any() and torch.equal(g.get_state(), state)


def test_an_occluded_batch_keeps_its_labels_and_is_distilled_to_the_read_without_the_occluder():
    """``draw(photos=...)``: the same rows and augmentation as without (its ``clean`` is that draw's ``x``), an
    occluder on the rows ``hit`` marks, the labels unchanged. ``tune_losses`` distils the real rows to the frozen
    network's read of ``clean``: a head equal to it is 0 away where nothing is occluded and not where something is;
    the early map is held on the real rows without an occluder (0 for one network), and 0 when every one has one."""
    from train.landmark_tune.tune import EarlyMap, draw, tune_losses

    plates = (torch.randint(0, 256, (3, 300, 300), dtype=torch.uint8),)
    cfg = _cfg(occlude_p=0.5, early_distill=1.0)
    crops = _crops(6, True, 0)
    plain = draw(crops, 6, torch.Generator().manual_seed(3), cfg)
    hidden = draw(crops, 6, torch.Generator().manual_seed(3), cfg, photos=plates)
    assert set(hidden) == set(plain) | {"clean", "hit"}
    torch.testing.assert_close(hidden["clean"], plain["x"], rtol=0, atol=0)
    for k in plain:
        if k != "x":
            torch.testing.assert_close(hidden[k], plain[k], rtol=0, atol=0)
    hit = hidden["hit"].bool()
    assert 0 < hit.sum() < 6
    assert (hidden["x"][hit] != hidden["clean"][hit]).any() and torch.equal(hidden["x"][~hit], hidden["clean"][~hit])

    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_lite", 17, joints3d=True)
    frozen = copy.deepcopy(head).requires_grad_(False)
    maps = EarlyMap(head), EarlyMap(frozen)
    real = {k: v[hit.argsort()] for k, v in hidden.items()}  # the rows without an occluder first
    clean = {**real, "x": real["clean"], "hit": torch.zeros(6)}
    assert float(tune_losses(head, frozen, clean, 0, cfg, maps)["ld"].detach()) == 0.0
    terms = tune_losses(head, frozen, real, 0, cfg, maps)
    assert float(terms["ld"].detach()) > 0 and float(terms["le"].detach()) == 0.0  # read without it
    unseen = int((~hit).sum())  # rendered rows: those without; real rows: the occluded ones
    assert float(tune_losses(head, frozen, real, unseen, cfg, maps)["le"].detach()) == 0.0
    with pytest.raises(ValueError, match="occlude_p"):
        _cfg(occlude_p=1.5)


def test_a_tune_with_occluders_needs_plates_and_covers_the_rows_it_is_told(data: dict[str, Path], tmp_path: Path,
                                                                           monkeypatch):
    """Each step hands the occluders its rendered rows (2) and its real rows (3), or with ``occlude_rows`` "real"
    the real rows alone; without plates the tune is refused, and an unknown choice of rows too."""
    import train.landmark_tune.tune as tune_module

    with pytest.raises(ValueError, match="needs plates"):
        tune_module.tune(_cfg(occlude_p=0.3), _crops(3, True, 0), _crops(3, False, 1), tmp_path)
    seen: list[int] = []
    paste = tune_module.paste_plates

    def counted(x, photos, p, g):
        seen.append(len(x))
        return paste(x, photos, p, g)

    monkeypatch.setattr(tune_module, "paste_plates", counted)
    for rows, sizes in (("all", [2, 3]), ("real", [3])):
        seen.clear()
        cfg = _cfg(occlude_p=0.5, occlude_rows=rows, plates=str(data["plates"]), batch_render=2, batch_real=3)
        tune_module.tune(cfg, _crops(3, True, 0), _crops(3, False, 1), tmp_path / rows)
        assert seen == sizes * cfg.steps
    with pytest.raises(ValueError, match="occlude_rows"):
        _cfg(occlude_rows="rendered")


def test_a_tune_holding_its_early_map_logs_the_term_from_zero(tmp_path: Path):
    from train.landmark_tune.tune import tune

    tune(_cfg(early_distill=1.0), _crops(3, True, 0), _crops(3, False, 1), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["le"] == 0.0 and rows[-1]["le"] > 0  # one network until the first step moves it
    tune(_cfg(), _crops(3, True, 0), _crops(3, False, 1), tmp_path / "recipe")
    assert "le" not in (tmp_path / "recipe" / "metrics.jsonl").read_text()


def test_a_degraded_crop_is_blurred_by_its_gaussian_and_its_noise_stays_within_its_draw():
    from train.landmark_tune.tune import degraded, draw

    impulse = torch.zeros(2, 3, 32, 32)
    impulse[:, :, 16, 16] = 1.0
    sharp = _cfg(render_degrade_p=1.0, render_blur=(1.0, 1.0), render_noise=0.0)
    out = degraded(impulse, torch.Generator().manual_seed(0), sharp)
    centre, side = 1 / (2 * math.pi), math.exp(-0.5) / (2 * math.pi)  # a unit Gaussian's 2D density at 0 and 1 px
    assert out[0, 0, 16, 16] == pytest.approx(centre, abs=2e-4) and out[1, 2, 16, 17] == pytest.approx(side, abs=2e-4)
    assert out[0, 1, 15, 16] == pytest.approx(side, abs=2e-4) and float(out[0, 0].sum()) == pytest.approx(1.0, abs=1e-5)
    grey = torch.full((64, 3, 16, 16), 0.5)
    noisy = degraded(grey, torch.Generator().manual_seed(1), _cfg(render_degrade_p=0.5, render_noise=0.1))
    spread = (noisy - 0.5).flatten(1).std(1)
    assert (spread == 0).sum() > 16 and (spread > 0).sum() > 16  # about half the crops touched
    assert float(spread.max()) < 0.11  # std U(0, 0.1): none beyond it
    g = torch.Generator().manual_seed(2)
    assert degraded(grey, g, _cfg()) is grey and torch.equal(g.get_state(), torch.Generator().manual_seed(2).get_state())
    crops = _crops(4, True, 0)
    plain = draw(crops, 3, torch.Generator().manual_seed(3), _cfg())
    same = draw(crops, 3, torch.Generator().manual_seed(3), _cfg(), degrade=True)  # p 0: the same batch
    assert all(torch.equal(plain[k], same[k]) for k in plain)
    with pytest.raises(ValueError, match="render_degrade_p in \\[0, 1\\]"):
        _cfg(render_degrade_p=1.5)


@pytest.mark.parametrize("joints3d", [False, True], ids=["world", "joints3d"])
def test_the_detached_3d_loss_trains_the_3d_convolution_and_not_the_trunk(joints3d: bool):
    """The world landmarks' convolution (MediaPipe's start), or a start's own 3D convolution (``head_init``)."""
    import copy

    from train.landmark_tune.tune import draw, tune_losses

    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_lite", 17, joints3d=joints3d)
    frozen = copy.deepcopy(head).requires_grad_(False)
    conv = head.joints3d if joints3d else head.trunk.world
    g = torch.Generator().manual_seed(0)
    for detach in (True, False):
        cfg = _cfg(detach3d=detach)
        parts = draw(_crops(2, True, 0), 1, g, cfg), draw(_crops(2, False, 1), 1, g, cfg)
        batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        head.zero_grad(set_to_none=True)
        terms = tune_losses(head, frozen, batch, 1, cfg)
        assert terms["l3"] > 0
        terms["l3"].backward()
        trunk = [p.grad for p in head.trunk.graph.parameters()]
        assert conv.weight.grad.abs().sum() > 0
        if detach:
            assert all(grad is None or not grad.any() for grad in trunk)
        else:
            assert any(grad is not None and grad.any() for grad in trunk)


def _lite_start(path: Path, landmark_3d: str = "joints", run: dict | None = None) -> Path:
    """A posenet checkpoint of MediaPipe Lite's landmark network behind the default's kind of detectors, random
    weights (seeded), reading its 3D with a convolution of its own (or the world landmarks')."""
    from dataclasses import replace

    from train.checkpoint import save_checkpoint
    from train.posenet.config import SIZES
    from train.posenet.model import PoseNet

    size = replace(SIZES["real-lite-landmarks"], landmark_3d=landmark_3d)
    torch.manual_seed(7)
    return save_checkpoint(path, config={"kind": "posenet", "model": size.to_dict(), "fit": {},
                                         **({"run": run} if run else {})}, step=1, model=PoseNet(size))


def _head_of(ckpt: Path) -> dict[str, torch.Tensor]:
    """The ``head.*`` weights of a posenet checkpoint, the prefix removed."""
    return {k.removeprefix("head."): v for k, v in torch.load(ckpt, weights_only=True)["model"].items()
            if k.startswith("head.")}


def test_a_tune_from_a_model_s_head_starts_from_it_and_distils_to_it_bit_for_bit(tmp_path: Path, monkeypatch):
    """``head_init``: the network the first step trains and the frozen one it distils to are the init's head bit for
    bit (its own 3D convolution kept, its pose flag left for the presence stage), and MediaPipe's file is not read;
    without it the run starts from MediaPipe's network, as before."""
    from train.landmark_tune import tune

    start = _lite_start(tmp_path / "start.pt")
    want = {k: v for k, v in _head_of(start).items() if not k.startswith("trunk.presence.")}
    assert "joints3d.weight" in want and "trunk.world.weight" not in want
    loaded = []
    monkeypatch.setattr(LandmarkPoseHead, "load_pretrained", lambda self, tflite=None: loaded.append(self))
    seen = []
    losses = tune.tune_losses

    def first_step(head, frozen, *args):
        if not seen:
            seen.append(({k: v.clone() for k, v in head.state_dict().items()}, frozen.state_dict()))
        return losses(head, frozen, *args)

    monkeypatch.setattr(tune, "tune_losses", first_step)
    cfg = _cfg(head_init=str(start), steps=2, warmup=0)
    tuned = tune.tune(cfg, _crops(2, True, 0), _crops(2, False, 1), tmp_path / "run")
    (head, frozen), = seen
    for state in (head, frozen):
        assert state.keys() == want.keys() and all(torch.equal(state[k], v) for k, v in want.items())
    assert not loaded and any(not torch.equal(tuned[k], v) for k, v in want.items())  # it trained
    assert not torch.equal(tuned["joints3d.weight"], want["joints3d.weight"])
    mediapipe = tune.start_head(_cfg())
    assert loaded == [mediapipe] and mediapipe.joints3d is None and mediapipe.trunk.presence is None


def test_the_pose_flag_and_the_3d_readout_start_from_the_init_s(tmp_path: Path, monkeypatch):
    """With ``head_init`` the presence stage starts from the init's pose flag (not MediaPipe's), beside the tuned
    weights; the readout stage keeps the tuned 3D convolution as its prior: its 3D reads as the tuned head's."""
    from train.landmark_tune.presence import flagged_head
    from train.landmark_tune.readout3d import readout_head
    from train.landmark_tune.tune import normalise

    start = _head_of(_lite_start(tmp_path / "start.pt"))
    monkeypatch.setattr(LandmarkPoseHead, "load_pretrained", lambda self, tflite=None: pytest.fail("read"))
    torch.manual_seed(1)
    tuned = LandmarkPoseHead("blazepose_lite", 17, joints3d=True).state_dict()
    cfg = _cfg(head_init=str(tmp_path / "start.pt"))
    head = flagged_head(cfg, tuned).eval()
    for name, value in head.state_dict().items():
        assert torch.equal(value, start[name] if name.startswith("trunk.presence.") else tuned[name]), name
    readout = readout_head(cfg, head.state_dict()).eval()
    assert readout.joints3d.weight[:3].abs().max() == 0  # root-relative: the pelvis's rows 0
    x = normalise(torch.rand(2, 3, S, S))
    with torch.no_grad():
        torch.testing.assert_close(readout(x)[1], head(x)[1], atol=1e-6, rtol=1e-5)


def test_a_head_init_that_does_not_read_the_trunk_s_landmarks_is_refused(tmp_path: Path):
    from train.checkpoint import save_checkpoint
    from train.landmark_tune.tune import start_head
    from train.posenet.config import SIZES
    from train.posenet.model import PoseNet

    tiny = save_checkpoint(tmp_path / "tiny.pt", config={"kind": "posenet", "model": SIZES["tiny"].to_dict(),
                                                         "fit": {}}, step=1, model=PoseNet(SIZES["tiny"]))
    with pytest.raises(CheckpointError, match="its head reads the heatmaps of .*, not blazepose_lite's landmarks"):
        start_head(_cfg(head_init=str(tiny)))
    with pytest.raises(CheckpointError, match="not blazepose_full's landmarks"):
        start_head(_cfg(head_init=str(_lite_start(tmp_path / "lite.pt")), trunk="blazepose_full"))


def test_a_tune_checkpoint_from_before_head_init_still_resumes(tmp_path: Path):
    """Runs written before ``head_init`` existed ran from MediaPipe's network: their checkpoints still load."""
    from train.checkpoint import save_checkpoint
    from train.landmark_tune.tune import KIND, settings, tuned_state

    cfg = _cfg()
    old = {k: v for k, v in settings(cfg).items() if k != "head_init"}
    head = LandmarkPoseHead("blazepose_lite", 17)
    save_checkpoint(tmp_path / "last.pt", config={"kind": KIND, "tune": old}, step=cfg.steps, model=head)
    state = tuned_state(tmp_path, cfg)
    assert all(torch.equal(state[k], v) for k, v in head.state_dict().items())
    with pytest.raises(CheckpointError, match="tune="):
        tuned_state(tmp_path, _cfg(head_init="default"))


def test_a_blend_moves_each_weight_back_toward_the_start_and_keeps_integer_buffers():
    from train.landmark_tune.tune import blended

    start = {"w": torch.tensor([0.0, 2.0, -1.0]), "n": torch.tensor(3)}
    tuned = {"w": torch.tensor([2.0, 4.0, 1.0]), "n": torch.tensor(7)}
    half = blended(start, tuned, 0.5)
    assert torch.equal(half["w"], torch.tensor([1.0, 3.0, 0.0])) and int(half["n"]) == 7
    assert torch.allclose(blended(start, tuned, 0.25)["w"], torch.tensor([0.5, 2.5, -0.5]))
    assert blended(start, tuned, 1.0) is tuned and torch.equal(blended(start, tuned, 0.0)["w"], start["w"])
    with pytest.raises(ValueError, match="keys differ: \\['x'\\]"):
        blended(start, {**tuned, "x": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match="blend must be in \\[0, 1\\]"):
        _cfg(blend=1.5)


def test_a_layers_own_blend_applies_to_the_keys_under_its_prefix_alone():
    from train.landmark_tune.tune import blended

    start = {"trunk.graph.n1.weight": torch.tensor([0.0, 4.0]), "trunk.graph.n10.weight": torch.tensor([1.0]),
             "trunk.image.weight": torch.tensor([2.0])}
    tuned = {"trunk.graph.n1.weight": torch.tensor([4.0, 0.0]), "trunk.graph.n10.weight": torch.tensor([3.0]),
             "trunk.image.weight": torch.tensor([6.0])}
    out = blended(start, tuned, 1.0, {"trunk.graph.n1.": 0.25})
    assert torch.equal(out["trunk.graph.n1.weight"], torch.tensor([1.0, 3.0]))  # a quarter of the way from start
    assert torch.equal(out["trunk.graph.n10.weight"], torch.tensor([3.0]))  # n10 is not under "n1."
    assert torch.equal(out["trunk.image.weight"], torch.tensor([6.0]))
    out = blended(start, tuned, 0.5, {"trunk.graph.n1.": 0.0})
    assert torch.equal(out["trunk.graph.n1.weight"], start["trunk.graph.n1.weight"])
    assert torch.equal(out["trunk.graph.n10.weight"], torch.tensor([2.0])) and torch.equal(
        out["trunk.image.weight"], torch.tensor([4.0]))
    assert blended(start, tuned, 1.0, {"trunk.graph.n1.": 1.0}) is tuned
    with pytest.raises(ValueError, match="early_blend must be in \\[0, 1\\]"):
        _cfg(early_blend=-0.1)


def test_the_early_layers_end_before_the_first_convolution_reading_a_sixteenth():
    from train.pretrained.mediapipe import trunk_spec
    from train.pretrained.tflite_graph import early_convs

    def conv(key, i, o, stride):
        return {"op": "conv", "in": [i], "out": o, "key": key, "stride": [stride, stride]}

    spec = {"input": 0, "nodes": [
        conv("a", 0, 1, 2),  # reads 1/1
        conv("b", 1, 2, 2),  # reads 1/2
        {"op": "maxpool", "in": [2], "out": 3, "stride": [2, 2]},
        conv("c", 3, 4, 1),  # reads 1/8
        conv("d", 4, 5, 2),  # reads 1/8, writes 1/16
        {"op": "add", "in": [5, 5], "out": 6},
        conv("e", 6, 7, 1),  # reads 1/16: the first that is not early
        {"op": "resize", "in": [7], "out": 8, "scale": [2.0, 2.0]},
        conv("f", 8, 9, 1)]}  # reads 1/8 again, but after the first coarse one
    assert early_convs(spec) == ["a", "b", "c", "d"]
    assert early_convs(spec, stride=8) == ["a", "b"]
    full = early_convs(trunk_spec("blazepose_full", "landmarks"))
    assert full == ["n1", "n2", "n3", "n4", "n6", "n7", "n8", "n9", "n10", "n12", "n14", "n15", "n16", "n17", "n18",
                    "n20", "n22"]


def test_an_early_blend_moves_the_early_layers_alone(data: dict[str, Path], tmp_path: Path):
    """``kept_state``: with ``early_blend`` 0.5 the early layers (``early_convs``) halfway back to the start and
    every other weight the tune's; with ``blend`` 0.5 alone every weight halfway (``early_blend`` None)."""
    from train.landmark_tune import pipeline, tune
    from train.pretrained.tflite_graph import early_convs

    cfg = _cfg(renders=(str(data["renders"]),), real=str(data["real"]), plates=str(data["plates"]), steps=2,
               presence_steps=1)
    pipeline.run(cfg, tmp_path)
    tuned = tune.tuned_state(tmp_path / "tune", cfg)
    start = tune.start_head(cfg)
    early = tuple(f"trunk.graph.{k}." for k in early_convs(start.trunk.graph.spec))
    start = start.state_dict()
    assert tune.kept_state(cfg, tuned) is tuned and tune.kept_state(dataclasses.replace(cfg, early_blend=1.0),
                                                                      tuned) is tuned
    moved = [k for k in tuned if tuned[k].is_floating_point() and not torch.equal(tuned[k], start[k])]
    assert any(k.startswith(early) for k in moved) and any(not k.startswith(early) for k in moved)
    kept = tune.kept_state(dataclasses.replace(cfg, early_blend=0.5), tuned)
    whole = tune.kept_state(dataclasses.replace(cfg, blend=0.5), tuned)
    for k in moved:
        half = (start[k] + tuned[k]) / 2
        assert torch.allclose(kept[k], half if k.startswith(early) else tuned[k], atol=1e-7), k
        assert torch.allclose(whole[k], half, atol=1e-7), k


def test_another_blend_reuses_the_tune_and_its_head_is_halfway(data: dict[str, Path], tmp_path: Path, monkeypatch):
    """A new work folder given a finished run's ``tune/last.pt`` skips the tune (its checkpoint leaves ``blend``
    out) and hands the presence stage the start's weights + blend x the tune's change."""
    import shutil

    from train.landmark_tune import pipeline, presence, tune

    cfg = _cfg(renders=(str(data["renders"]),), real=str(data["real"]), plates=str(data["plates"]), steps=2,
               presence_steps=1)
    pipeline.run(cfg, tmp_path / "whole")
    tuned = tune.tuned_state(tmp_path / "whole" / "tune", cfg)
    start = tune.start_head(cfg).state_dict()
    (tmp_path / "half" / "tune").mkdir(parents=True)
    shutil.copytree(tmp_path / "whole" / "crops", tmp_path / "half" / "crops")
    shutil.copy(tmp_path / "whole" / "tune" / "last.pt", tmp_path / "half" / "tune" / "last.pt")
    seen = {}
    flagged_head = presence.flagged_head

    def spy(cfg_, state):
        seen.update(state)
        return flagged_head(cfg_, state)

    def fail(*args, **kwargs):
        raise AssertionError("the tune ran again")

    monkeypatch.setattr(presence, "flagged_head", spy)
    monkeypatch.setattr(tune, "tune", fail)
    half = dataclasses.replace(cfg, blend=0.5)
    pipeline.run(half, tmp_path / "half")
    monkeypatch.setattr(tune, "start_head", fail)  # a rerun past the presence stage blends nothing again
    pipeline.run(half, tmp_path / "half")
    moved = [k for k in tuned if tuned[k].is_floating_point() and not torch.equal(tuned[k], start[k])]
    assert moved  # the tune changed weights, and the blend put each halfway
    for k in moved:
        assert torch.allclose(seen[k], (start[k] + tuned[k]) / 2, atol=1e-6), k


def test_a_soup_averages_the_draws_weight_for_weight_and_refuses_another_recipe(data: dict[str, Path],
                                                                                 tmp_path: Path, monkeypatch):
    """``soup``: the presence stage gets the mean of this tune and another seed's, weight for weight (integer
    buffers this tune's), before the blend; a tune of another recipe (steps), one stopped short, and a missing one
    are refused in one line; the work folder or its ``tune/last.pt`` name the same draw."""
    from train.landmark_tune import pipeline, presence, tune

    cfg = _cfg(renders=(str(data["renders"]),), real=str(data["real"]), plates=str(data["plates"]), steps=2,
               presence_steps=1)
    pipeline.run(cfg, tmp_path / "a")
    other = dataclasses.replace(cfg, seed=1)
    pipeline.run(other, tmp_path / "b")
    a, b = tune.tuned_state(tmp_path / "a" / "tune", cfg), tune.tuned_state(tmp_path / "b" / "tune", other)
    differ = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert differ  # two draws of one recipe: other batches, other weights
    soup = dataclasses.replace(cfg, soup=(str(tmp_path / "b"),))
    mean = tune.souped(soup, a)
    assert tune.souped(cfg, a) is a
    for k in differ:
        assert torch.allclose(mean[k], (a[k] + b[k]) / 2, atol=1e-7), k
    assert all(mean[k] is a[k] for k in a if not a[k].is_floating_point())
    by_file = tune.souped(dataclasses.replace(cfg, soup=(str(tmp_path / "b" / "tune" / "last.pt"),)), a)
    assert all(torch.equal(by_file[k], mean[k]) for k in a)
    start = tune.start_head(cfg).state_dict()
    half = tune.kept_state(dataclasses.replace(soup, blend=0.5), a)  # the soup first, then the blend
    for k in differ:
        assert torch.allclose(half[k], (start[k] + mean[k]) / 2, atol=1e-6), k

    seen = {}
    flagged_head = presence.flagged_head
    monkeypatch.setattr(presence, "flagged_head", lambda cfg_, state: seen.update(state) or flagged_head(cfg_, state))
    (tmp_path / "s" / "tune").mkdir(parents=True)
    shutil.copytree(tmp_path / "a" / "crops", tmp_path / "s" / "crops")
    shutil.copy(tmp_path / "a" / "tune" / "last.pt", tmp_path / "s" / "tune" / "last.pt")
    pipeline.run(soup, tmp_path / "s")  # the tune is reused (soup is read after it) and the flag gets the mean
    assert all(torch.equal(seen[k], mean[k]) for k in differ)

    pipeline.run(dataclasses.replace(cfg, steps=3), tmp_path / "c")
    with pytest.raises(CheckpointError, match="trained with tune="):
        tune.souped(dataclasses.replace(cfg, soup=(str(tmp_path / "c"),)), a)
    short = torch.load(tmp_path / "c" / "tune" / "last.pt", weights_only=True)
    torch.save({**short, "step": 2}, tmp_path / "short.pt")  # that recipe's tune, stopped a step short
    with pytest.raises(CheckpointError, match="stopped at step 2 of 3"):
        tune.souped(dataclasses.replace(cfg, steps=3, soup=(str(tmp_path / "short.pt"),)),
                    tune.tuned_state(tmp_path / "c" / "tune", dataclasses.replace(cfg, steps=3)))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        tune.souped(dataclasses.replace(cfg, soup=(str(tmp_path / "nowhere"),)), a)
    with pytest.raises(ValueError, match="soup must name"):
        _cfg(soup=("",))


def test_the_schedule_warms_up_linearly_then_follows_the_cosine():
    from train.landmark_tune.tune import learning_rate

    cfg = _cfg(lr=1.0, warmup=4, steps=8)
    assert learning_rate(0, cfg) == pytest.approx(0.25)
    assert learning_rate(3, cfg) == pytest.approx(0.5 * (1 + np.cos(np.pi * 3 / 8)))
    assert learning_rate(7, cfg) == pytest.approx(0.5 * (1 + np.cos(np.pi * 7 / 8)))


# ---- presence --------------------------------------------------------------------------------------------------


def test_the_presence_stage_changes_the_pose_flag_and_nothing_else(data: dict[str, Path]):
    from train.landmark_tune.presence import flagged_head, train_presence

    cfg = _cfg(plates=str(data["plates"]))
    torch.manual_seed(1)
    tuned = LandmarkPoseHead("blazepose_lite", 17).state_dict()
    head = flagged_head(cfg, tuned)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in tuned.items())
    stats = train_presence(head, _crops(3, True, 0), _crops(2, False, 1), cfg)
    assert stats["step"] == 2 and np.isfinite(stats["bce"])
    assert stats["lr"] == pytest.approx(1e-3 * (2 / 30) * 0.5)  # step 2 of 2: warm-up 2/30, the cosine at its half
    changed = {k for k, v in head.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("trunk.presence.") for k in changed)


# ---- readout3d -------------------------------------------------------------------------------------------------


def test_the_ridge_readout_recovers_a_linear_map_and_large_lambda_keeps_the_prior():
    from train.landmark_tune.readout3d import ridge

    g = np.random.default_rng(0)
    f = np.concatenate([g.normal(size=(200, 12)), np.ones((200, 1))], 1)  # features and the bias's 1
    true, prior = g.normal(size=(6, 13)), g.normal(size=(6, 13))
    y = f @ true.T
    np.testing.assert_allclose(ridge(f.T @ f, f.T @ y, prior, 1e-12), true, atol=1e-8)
    np.testing.assert_allclose(ridge(f.T @ f, f.T @ y, prior, 1e8), prior, atol=1e-6)
    between = ridge(f.T @ f, f.T @ y, prior, 1.0)
    assert 0.01 < np.abs(between - true).max() and np.abs(between - prior).max() > 0.01


def test_the_fitted_3d_convolution_reads_the_fit_through_the_head_root_relative(monkeypatch):
    """From the world landmarks' recipes (root-relative, the same 3D as the world head's), fitted with lambda ~0 to
    6 crops' 3D (fewer crops than features: the fit goes through them), ``head(x)`` reads exactly those targets.
    The fit reads the trunk's last map; a random network's maps hardly differ between crops (1e-7), so the trunk
    gives each crop a random map of its own there."""
    from train.landmark_tune.readout3d import fit_readout, readout_head
    from train.landmark_tune.tune import normalise

    cfg = _cfg()
    torch.manual_seed(0)
    world = LandmarkPoseHead("blazepose_lite", 17, presence=True).eval()
    head = readout_head(cfg, world.state_dict()).eval()
    assert head.joints3d.weight[:3].abs().max() == 0 and head.joints3d.bias[:3].abs().max() == 0
    crops = _crops(6, True, 0)
    x = normalise(torch.from_numpy(crops["x"]).permute(0, 3, 1, 2).float() / 255)
    with torch.no_grad():
        start, reference = head(x)[1], world(x)[1]
    torch.testing.assert_close(start, reference - reference[:, :1], atol=1e-5, rtol=1e-4)
    maps = torch.randn(6, head.trunk.channels, 2, 2)  # (N, C, 2, 2)
    monkeypatch.setattr(head.trunk, "forward", lambda x, features=False: (torch.zeros(len(x), 39, 5), maps, None))
    stats = fit_readout(head, crops["x"], crops["y3"], lam=1e-12)
    assert stats["rows"] == 6 and stats["mpjpe_after_mm"] < 1.0 < stats["mpjpe_before_mm"]
    assert head.joints3d.weight[:3].abs().max() == 0  # the pelvis's rows stay 0: the subtraction changes nothing
    with torch.no_grad():
        fitted = head(x)[1]
    torch.testing.assert_close(fitted, torch.from_numpy(crops["y3"]), atol=2e-3, rtol=0)


# ---- work folder and CLI ---------------------------------------------------------------------------------------


def test_a_work_folder_refuses_another_config_naming_the_setting(tmp_path: Path):
    from train.landmark_tune.pipeline import CONFIG_NAME, check_work

    cfg = _cfg()
    check_work(tmp_path, cfg)
    rerun = dataclasses.replace(cfg, threads=1, log_every=5)  # run-only settings may change
    check_work(tmp_path, rerun)
    with pytest.raises(CheckpointError, match=r"lr: 0\.001 there, 0\.0005 here") as err:
        check_work(tmp_path, dataclasses.replace(cfg, lr=5e-4))
    assert "\n" not in str(err.value) and "steps" not in str(err.value) and "linked in" not in str(err.value)
    with pytest.raises(CheckpointError, match=r"blend: 1\.0 there, 0\.7 here\); use another --work folder or delete "
                                              r"it \(only the stages after the tune read it: a new --work folder with "
                                              r".*/crops and .*/tune/last\.pt linked in reruns just those\)"):
        check_work(tmp_path, dataclasses.replace(cfg, blend=0.7))
    assert LandmarkTuneConfig.from_dict(json.loads((tmp_path / CONFIG_NAME).read_text())) == rerun
    with pytest.raises(ValueError, match="unknown landmark_tune settings: learning_rate"):
        LandmarkTuneConfig.from_dict({"learning_rate": 1e-3})


def test_the_cli_names_a_missing_folder_in_one_line(data: dict[str, Path], tmp_path: Path, capsys):
    from train.landmark_tune.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["--renders", str(data["renders"]), "--real", str(tmp_path / "nowhere"), "--plates",
              str(data["plates"]), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 3 and err == f"error: --real {tmp_path / 'nowhere'}: no such folder"
    assert not (tmp_path / "work").exists()


def test_the_stages_run_in_order_and_a_rerun_skips_those_done(data: dict[str, Path], tmp_path: Path, monkeypatch):
    from train.landmark_tune import pipeline, tune
    from train.landmark_tune.crops import load_crops

    cfg = _cfg(renders=(str(data["renders"]),), real=str(data["real"]), plates=str(data["plates"]), steps=2,
               presence_steps=1)
    result = pipeline.run(cfg, tmp_path)
    assert result == tmp_path / "readout3d" / "head.pt"
    real = load_crops(tmp_path / "crops" / "real.npz")
    assert len(real["x"]) == 6 and np.isnan(real["y3"]).all()
    state = pipeline.load_head_state(result, cfg, "readout3d")
    assert "joints3d.weight" in state and "trunk.presence.n0.weight" in state
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}

    def fail(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(tune, "tune", fail)
    monkeypatch.setattr(pipeline, "save_head", fail)
    assert pipeline.run(cfg, tmp_path) == result
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps


def test_the_export_puts_the_tuned_head_behind_the_default_model_s_detectors(tmp_path: Path):
    """``real-full-landmarks-joints``: the head bit for bit in the checkpoint (the recipe in its ``fit``, its
    ``track_conf`` as the model's run-time setting), the embedded model's box detector bit for bit, the file within
    the embedded model's limit (the person detector and some of the head int8, the choice kept in the checkpoint:
    exported again, the file is the same), and the exported graph's 3D convolution is the head's."""
    from engines.export import export_onnx
    from engines.weight_storage import EMBEDDED_MAX_BYTES, HEAD, PERSON_DETECTOR
    from train.checkpoint import load_checkpoint
    from train.landmark_tune.export import export_model, start_model
    from train.posenet.from_onnx import recover
    from tvstream.api import open_model

    cfg = LandmarkTuneConfig(steps=7, int8_crops=2, turn_p=0.5)
    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_full", 17, presence=True, joints3d=True).state_dict()
    with pytest.raises(ValueError, match="needs the crops"):  # Full in float16 is over the limit: nothing left
        export_model(cfg, head, tmp_path / "model.pt", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
    out = export_model(cfg, head, tmp_path / "model.pt", tmp_path / "m.onnx",
                       crops=(_crops(4, True, 0), _crops(4, False, 1)))
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["config"]["model"]["landmark_3d"] == "joints" and ckpt["config"]["fit"]["steps"] == 7
    assert ckpt["config"]["run"] == {"track_conf": 0.95}
    assert ckpt["config"]["model"]["crop_rotation"]  # it learnt turned crops (turn_p): it runs them
    assert open_model(out, "onnxruntime")[0].metadata.run_settings == {"track_conf": 0.95}
    int8 = ckpt["config"]["export"]["int8"]
    assert int8[0] == PERSON_DETECTOR and len(int8) > 1 and all(n.startswith(HEAD) for n in int8[1:])
    assert not any(".presence." in n for n in int8)  # the pose flag is never rounded
    size = out.stat().st_size
    assert size <= EMBEDDED_MAX_BYTES
    export_onnx(tmp_path / "model.pt", tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").stat().st_size == size
    assert all(torch.equal(ckpt["model"][f"head.{k}"], v) for k, v in head.items())
    default, _ = start_model("default")
    assert all(torch.equal(ckpt["model"][k], v) for k, v in default.items() if k.startswith("detector."))
    back, weight = recover(out)[0].head.joints3d.weight.detach(), head["joints3d.weight"]
    # stored as float16, or int8 where chosen
    assert (back - weight).abs().max() <= weight.abs().max() / 200


def test_the_int8_choice_takes_the_least_harm_per_value_until_enough_is_saved():
    from train.landmark_tune.quantize import choose_int8

    rows = [("a", 1000, 0.5), ("b", 4000, 0.4), ("c", 2000, 0.01), ("d", 3000, 3.0)]  # per value: c, b, a, d
    assert choose_int8(rows, 0) == ()
    assert choose_int8(rows, 2000) == ("c",)
    assert choose_int8(rows, 2001) == ("c", "b")
    assert choose_int8(rows, 7000) == ("c", "b", "a")
    assert choose_int8(rows, 10**9) == ("c", "b", "a", "d")


def test_a_weight_s_int8_harm_is_its_change_of_the_head_s_output_and_the_weights_come_back():
    """Each large weight rounded alone: a weight whose values int8 holds exactly does no harm, a rounded one does;
    the pose flag's weights are not offered; the head's weights are as they were afterwards."""
    from engines.weight_storage import MIN_ELEMENTS
    from train.landmark_tune.quantize import int8_harm
    from train.landmark_tune.tune import normalise

    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_lite", 17, presence=True, joints3d=True).eval()
    exact = "joints3d.weight"
    with torch.no_grad():  # every output channel: integers up to 127 times a power of two (float16 and int8 exact)
        w = head.joints3d.weight
        w.copy_(torch.randint(-127, 128, w.shape).float() / 2**14)
        w[:, 0, 0, 0] = 127 / 2**14
    before = {k: v.clone() for k, v in head.state_dict().items()}
    x = normalise(torch.rand(2, 3, 256, 256))
    rows = {name: (values, harm) for name, values, harm in int8_harm(head, x)}
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in before.items())
    large = {k for k, p in head.named_parameters() if p.dim() >= 2 and p.numel() >= MIN_ELEMENTS}
    assert set(rows) == {k for k in large if not k.startswith("trunk.presence.")}
    assert rows[exact] == (w.numel(), 0.0)
    assert rows["trunk.image.weight"][1] > 0


# ---- tvstream adapt from a landmark model ----------------------------------------------------------------------


def test_adapt_fine_tunes_a_landmark_start_by_the_recipe_on_the_venue_s_folders(data: dict[str, Path],
                                                                                 tmp_path: Path, monkeypatch):
    """``tvstream adapt`` from a landmark model (exported, as the shipped one is; Lite's structure with its own 3D
    convolution, a size added for the test): ``fine_tune`` runs this recipe on the venue's renders, teacher-labeled
    clips and plates, from the start's head and detectors, and returns the adapted network, which keeps the
    start's ``track_conf`` (carried through its recovered checkpoint) and detectors; run again, it redoes nothing."""
    from dataclasses import replace

    from engines.export import export_onnx
    from train.adapt import pipeline as adapt
    from train.adapt.config import AdaptConfig
    from train.checkpoint import load_checkpoint
    from train.landmark_tune import pipeline
    from train.posenet.config import SIZES

    start = tmp_path / "start.onnx"
    export_onnx(_lite_start(tmp_path / "start.pt", run={"track_conf": 0.9}), start)
    work = tmp_path / "work"
    work.mkdir()
    for name, folder in (("synth", data["renders"] / "shard_a"), ("real", data["real"]), ("plates", data["plates"])):
        (work / name).symlink_to(folder)
    cfg = AdaptConfig(teacher="labels", init=str(start), steps=2, replay=None)
    made = []
    recipe = adapt.landmark_config

    def smaller(*args) -> LandmarkTuneConfig:  # the recipe as adapt makes it, with a test's batches
        made.append(recipe(*args))
        return replace(made[-1], batch_render=1, batch_real=1, presence_steps=1, presence_batch=1)

    monkeypatch.setattr(adapt, "landmark_config", smaller)
    ran = []
    run = pipeline.run
    monkeypatch.setattr(pipeline, "run", lambda lcfg, *args: ran.append(lcfg) or run(lcfg, *args))
    progress = []
    ckpt = adapt.fine_tune(work, cfg, lambda stage, done, total: progress.append((stage, done, total)))
    (lcfg,), init = made, str((work / "init.pt").absolute())
    assert ran == [replace(lcfg, batch_render=1, batch_real=1, presence_steps=1, presence_batch=1)]
    venue = [str((work / name).absolute()) for name in ("synth", "real", "plates")]
    assert (lcfg.renders, lcfg.real, lcfg.plates) == ((venue[0],), venue[1], venue[2])
    assert (lcfg.skip_clips, lcfg.trunk, lcfg.size) == (0, "blazepose_lite", "real-lite-landmarks-joints")
    assert lcfg.init == lcfg.head_init == init
    assert (lcfg.steps, lcfg.lr, lcfg.track_conf, lcfg.seed, lcfg.threads) == (2, 5e-5, 0.9, 0, 2)
    assert progress == [("fit", 1, 2), ("fit", 2, 2)]
    assert ckpt == work / "landmark_tune" / "export" / "model.pt"
    adapted, recovered = load_checkpoint(ckpt), load_checkpoint(init)
    assert recovered["config"]["run"] == adapted["config"]["run"] == {"track_conf": 0.9}
    assert adapted["config"]["fit"]["recipe"] == "train.landmark_tune"
    assert adapted["config"]["model"] == SIZES["real-lite-landmarks-joints"].to_dict()
    detectors = [k for k in recovered["model"] if k.startswith(("detector.", "person_detector."))]
    assert detectors and all(torch.equal(adapted["model"][k], recovered["model"][k]) for k in detectors)
    assert any(not torch.equal(adapted["model"][k], v) for k, v in recovered["model"].items() if k.startswith("head."))
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    assert adapt.fine_tune(work, cfg, lambda *_: None) == ckpt  # a rerun: every stage is there
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()} == stamps


def test_a_landmark_tune_model_s_card_says_what_its_own_run_read(data: dict[str, Path], tmp_path: Path):
    """``train.default_model``'s ``trained_on`` for such a model comes from its fit record: another run (more steps,
    other renders, turned crops, another start) gets another text, not session 46's; folders by their last parts
    (not the machine's paths), a render folder still here by its shards."""
    from train.default_model import landmark_tune_trained_on

    base = {"recipe": "train.landmark_tune", **LandmarkTuneConfig(
        renders=(str(tmp_path / "gone" / "design"),), real="/somewhere/data/cutouts",
        plates="/somewhere/data/plates/train").to_dict()}
    text = landmark_tune_trained_on(base)
    assert "1500 steps" in text and "folders design," in text and "turned" not in text and "drawn" not in text
    assert "real people in data/cutouts " in text and "crops of plates/train;" in text and "/somewhere" not in text
    assert "those of the embedded default model it was built beside" in text
    here = landmark_tune_trained_on({**base, "renders": [str(data["renders"])]})
    assert "folders renders: shards shard_a," in here and "crossing" not in here
    crossing = tmp_path / "crossings"  # a shard train.synth.crossing.render_shard wrote (its manifest, its recipe)
    crossing.mkdir()
    (crossing / "manifest.json").write_text(json.dumps({"schema": "tvstream.manifest/1", "videos": []}))
    (crossing / "synth_config.json").write_text(json.dumps({"scenario": "varied", "kind": "behind"}))
    both = landmark_tune_trained_on({**base, "renders": [str(data["renders"]), str(crossing)]})
    assert "folders renders, crossings: shards shard_a," in both
    assert (", crossings; crossing shards crossings (a passer-by behind the athlete, labeled only on the frames where "
            "the two overlap), their first 6") in both
    assert "MediaPipe Pose's Full landmark network as it comes" in text and "track_conf 0.95" in text
    other = landmark_tune_trained_on({**base, "steps": 800, "renders": ["w/synth", "w/replay"], "turn_p": 0.7,
                                      "head_init": "venue/init.pt", "track_conf": 0.9, "render_draw": "scenario"})
    assert "800 steps" in other and "folders synth, replay," in other and "70% of them turned" in other
    assert "weight-space" not in text and "weight-space" not in other
    half = landmark_tune_trained_on({**base, "blend": 0.5})
    assert "alone; the head kept is the start's weights + 0.5 x the tune's change (a weight-space ensemble" in half
    early = landmark_tune_trained_on({**base, "early_blend": 0.5})
    assert ("the start's weights + 1.0 x the tune's change (0.5 x in its early layers, those reading the crop at "
            "1/1 to 1/8 of its size) (a weight-space ensemble") in early
    assert "early layers" not in half and "weight-space" not in landmark_tune_trained_on({**base, "early_blend": 1.0})
    assert ("fine-tuned by train.landmark_tune on a CPU (its early layers, those reading the crop at 1/1 to 1/8 of "
            "its size, kept as they came): 1500 steps") in landmark_tune_trained_on({**base, "freeze_early": True})
    assert "kept as they came" not in text and "blurred" not in text and "learning rate" not in text
    assert ("on a CPU (its early layers, those reading the crop at 1/1 to 1/8 of its size, at 0.2 x the others' "
            "learning rate): 1500 steps") in landmark_tune_trained_on({**base, "early_lr": 0.2})
    assert ("on a CPU (its early layers, those reading the crop at 1/1 to 1/8 of its size, at 0.5 x the others' "
            "learning rate and their map (the one its 1/16 stage reads) held on the real people's crops to the "
            "start's at weight 5.0): 1500") in landmark_tune_trained_on({**base, "early_lr": 0.5, "early_distill": 5.0})
    assert "soup" not in text
    assert ("its 3D learnt by its last convolution alone; this tune averaged weight for weight with 1 other draw of "
            "it (another seed each: a model soup); then its pose") in landmark_tune_trained_on({**base,
                                                                                         "soup": ["w/b"]})
    assert "with 2 other draws of it" in landmark_tune_trained_on({**base, "soup": ["w/b", "w/c"]})
    assert "and 3D labels, 50% of them blurred and given sensor noise)" in landmark_tune_trained_on(
        {**base, "render_degrade_p": 0.5})
    assert "started from venue/init.pt" in other and "track_conf 0.9 " in other
    assert "each scenario drawn as often" in other
    sure = landmark_tune_trained_on(base, {"track_conf": 0.98})
    assert "track_conf 0.98 (its own setting; the recipe's 0.95, changed by train.posenet.reconfigure)." in sure
    assert "occluder" not in text and "track_shrink" not in sure
    assert "(its own setting) and track_shrink 0.9." in landmark_tune_trained_on(base, {"track_conf": 0.95,
                                                                                      "track_shrink": 0.9})
    assert ("holding the start's reading of them); 30% of all its crops with an occluder pasted (a rectangle of a "
            "person-free plate, half of them across the crop's bottom), the labels kept and the real ones distilled "
            "to the start's reading of the crop without it, its 3D learnt") in landmark_tune_trained_on(
        {**base, "occlude_p": 0.3})
    assert "; 30% of its real people's crops with an occluder" in landmark_tune_trained_on(
        {**base, "occlude_p": 0.3, "occlude_rows": "real"})
