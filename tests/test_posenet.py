"""The localising pose network: geometry of crops and augmentation, losses, metrics, cache, training, export."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from train.losses.pose_heads import box_loss, confidence_bce, coord_l1, heatmap_ce
from train.metrics.keypoints import CORE_JOINTS, pck, torso_diagonal
from train.posenet.augment import AugmentConfig, pose_crops, random_convolution, shade, zoom_frames
from train.posenet.config import SIZES, PoseNetConfig
from train.posenet.model import PoseNet, crop_scale
from tvstream.errors import CheckpointError
from tvstream.skeleton import H36M_17

ROOT = Path(__file__).resolve().parent.parent
LANDMARK_TFLITE = ".mpvenv/lib/python3.11/site-packages/mediapipe/modules/pose_landmark/pose_landmark_full.tflite"

NO_AUG = AugmentConfig(rotate_p=0, squash_p=0, flip_p=0, scale=(1, 1), shift=0.0, zoom_p=0)


def _dot_images(points: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 3, side, side) black images with one white pixel at each point (normalised coords, (N, 2))."""
    n = points.shape[0]
    img = torch.zeros(n, 3, side, side)
    px = ((points + 1) / 2 * side - 0.5).round().long()
    for i in range(n):
        img[i, :, px[i, 1], px[i, 0]] = 1.0
    return img


def _brightest(crops: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) -> (N, 2) normalised coords of each crop's brightest pixel."""
    s = crops.shape[-1]
    flat = crops.sum(1).flatten(1).argmax(1)
    xy = torch.stack([flat % s, flat // s], 1).float()
    return (2 * xy + 1) / s - 1


def test_crop_scale_is_a_square_in_frame_pixels():
    scale = crop_scale(torch.tensor([[0.1, 0.3]]), (288, 512), 1.25)
    side = 1.25 * max(0.1 * 512, 0.3 * 288)  # 108 px
    assert torch.allclose(scale, torch.tensor([[side / 512, side / 288]]))


@pytest.mark.parametrize("aug", [NO_AUG, replace(NO_AUG, flip_p=1.0), replace(NO_AUG, rotate_p=1.0),
                                 replace(NO_AUG, squash_p=1.0, scale=(0.8, 1.2), shift=0.1)])
def test_augmented_joints_land_where_the_image_moved(aug):
    """A white dot at a joint's position ends up at that joint's augmented crop coordinates."""
    g = torch.Generator().manual_seed(3)
    n, k = 6, H36M_17.num_joints
    j2 = (torch.rand(n, k, 2, generator=g) - 0.5) * 0.5
    target = 13  # lwrist: a left joint, so a flip must move it to rwrist's slot
    images = _dot_images(j2[:, target], 160)
    tight = torch.full((n, 2), 0.4)
    crops, out2, out3, _ = pose_crops(images, j2, torch.zeros(n, k, 3), tight, 64, 1.25, aug, g, train=True)
    slot = H36M_17.flip_permutation()[target] if aug.flip_p == 1.0 else target
    assert torch.allclose(_brightest(crops), out2[:, slot], atol=3 * 2 / 64)


def test_random_convolution_keeps_outlines_and_each_channels_mean():
    """A dark square on a light ground: with 1x1 kernels (a colour remap) the square stays one colour and the ground
    another, the boundary where it was; for any kernel each channel's mean is kept; p = 0 changes nothing."""
    g = torch.Generator().manual_seed(5)
    x = torch.full((4, 3, 32, 32), 0.8)
    x[:, :, 8:20, 10:24] = torch.tensor([0.1, 0.3, 0.2]).view(3, 1, 1)
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[8:20, 10:24] = True
    out = random_convolution(x, 1.0, (1,), g)
    for img in out:
        a, b = img[:, inside], img[:, ~inside]
        assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-5) and torch.allclose(b, b[:, :1].expand_as(b), atol=1e-5)
    assert not torch.allclose(out, x, atol=1e-3)  # the colours did change
    for sides in ((1,), (3, 5, 7)):
        out = random_convolution(x, 1.0, sides, g)
        assert torch.allclose(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-4)
    assert torch.equal(random_convolution(x, 0.0, (3,), g), x)


def test_shade_is_a_ramp_across_the_image():
    """A flat grey image: the shaded one is a plane in x and y (darker on one side), its mean kept, its range within
    1 +- amount (both axes together at most sqrt 2 of it)."""
    g = torch.Generator().manual_seed(2)
    x = torch.full((6, 3, 16, 24), 0.5)
    out = shade(x, 1.0, 0.4, g)
    ratio = out[:, 0] / 0.5  # (N, H, W)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 24), indexing="ij")
    design = torch.stack([torch.ones_like(xs), xs, ys], -1).reshape(-1, 3)
    for r in ratio:
        coef = torch.linalg.lstsq(design, r.reshape(-1, 1)).solution
        assert torch.allclose(design @ coef, r.reshape(-1, 1), atol=1e-5)  # a plane
        assert abs(float(coef[0]) - 1) < 1e-5 and float(coef[1:].norm()) <= 0.4 + 1e-5
    assert (ratio.amax(dim=(1, 2)) - ratio.amin(dim=(1, 2)) > 0.01).any()
    assert torch.equal(shade(x, 0.0, 0.4, g), x)


def test_flip_negates_x_and_swaps_sides_in_3d():
    g = torch.Generator().manual_seed(0)
    j3 = torch.randn(2, 17, 3)
    trust = torch.rand(2, 17)
    _, _, out3, w = pose_crops(torch.zeros(2, 3, 32, 32), torch.zeros(2, 17, 2), j3, torch.full((2, 2), 0.4), 16,
                               1.25, replace(NO_AUG, flip_p=1.0), g, weight=trust)
    perm = H36M_17.flip_permutation()
    assert torch.allclose(out3[:, :, 0], -j3[:, perm, 0]) and torch.allclose(out3[:, :, 1:], j3[:, perm, 1:])
    assert torch.equal(w, trust[:, perm])  # a teacher's confidence in the left wrist goes with it


def test_rotation_turns_the_3d_pose_with_the_image():
    """A crop rotated so a joint straight below the pelvis appears rotated: 3D (x, y) turns by the same angle."""
    g = torch.Generator().manual_seed(1)
    j3 = torch.zeros(1, 17, 3)
    j3[0, 3] = torch.tensor([0.0, 1.0, 0.5])  # rankle 1 m below the pelvis
    aug = replace(NO_AUG, rotate_p=1.0)
    j2 = torch.zeros(1, 17, 2)
    j2[0, 3] = torch.tensor([0.0, 0.3])
    _, out2, out3, _ = pose_crops(torch.zeros(1, 3, 32, 32), j2, j3, torch.full((1, 2), 0.4), 16, 1.25, aug, g)
    angle2d = math.atan2(out2[0, 3, 1], out2[0, 3, 0])
    angle3d = math.atan2(out3[0, 3, 1], out3[0, 3, 0])
    assert abs(angle2d - angle3d) < 1e-4 and abs(out3[0, 3, 2] - 0.5) < 1e-6


def test_upright_crops_stand_a_lying_body_up_and_turn_its_3d_with_it():
    """``upright_p``: a body lying with its shoulders 0.3 to the right of its hips (90 degrees from upright) is
    turned so its shoulders are straight above its hips in the crop, in 2D and 3D (x, y turned alike); a body
    whose shoulders are not labeled stays as it lies. The held-out crops (``train=False``) turn too."""
    j2 = torch.zeros(2, 17, 2)
    j2[:, [11, 14], 0] = 0.3  # shoulders right of the hips (at 0)
    j3 = torch.zeros(2, 17, 3)
    j3[:, [11, 14], 0] = 0.5  # 0.5 m to the right in 3D as well
    weight = torch.ones(2, 17)
    weight[1, 11] = 0.0
    aug = replace(NO_AUG, upright_p=1.0)
    for train in (True, False):
        _, out2, out3, _ = pose_crops(torch.zeros(2, 3, 32, 32), j2, j3, torch.full((2, 2), 0.4), 16, 1.25, aug,
                                      torch.Generator().manual_seed(0), train=train, weight=weight)
        assert abs(out2[0, 11, 0]) < 1e-5 and out2[0, 11, 1] < -0.5  # up in the crop
        assert abs(out3[0, 11, 0]) < 1e-5 and out3[0, 11, 1] == pytest.approx(-0.5, abs=1e-5)
        assert out2[1, 11, 0] > 0.5 and abs(out2[1, 11, 1]) < 1e-5  # unlabeled shoulder: not turned


def test_zoomed_frames_keep_the_box_on_the_athlete():
    g = torch.Generator().manual_seed(2)
    centre = torch.tensor([[0.3, -0.2], [-0.5, 0.4], [0.0, 0.0]])
    frames = _dot_images(centre, 64)
    box = torch.cat([centre, torch.full((3, 2), 0.1)], 1)
    out, new_box = zoom_frames(frames, box, replace(AugmentConfig(), zoom_p=1.0), g)
    assert torch.allclose(_brightest(out), new_box[:, :2], atol=3 * 2 / 64)
    assert (new_box[:, 2:] >= 0.1).all()  # zooming in makes the athlete larger


def test_frames_between_bars_keep_the_athlete_in_the_picture():
    # a white frame with a dot (the athlete): with bars every column outside the kept middle is black, the dot
    # and its whole box are inside the picture, and the box follows it
    g = torch.Generator().manual_seed(5)
    centre = torch.tensor([[0.7, -0.2], [-0.6, 0.5], [0.1, 0.0], [0.9, 0.9]])
    frames = 0.5 + 0.5 * _dot_images(centre, 64)
    box = torch.cat([centre, torch.full((4, 2), 0.08)], 1)
    cfg = replace(AugmentConfig(), zoom_p=0.5, bars_p=1.0, bars=(0.3, 0.5))
    out, new_box = zoom_frames(frames, box, cfg, g)
    assert torch.allclose(_brightest(out), new_box[:, :2], atol=3 * 2 / 64)
    lit = out.sum(1).amax(1) > 0  # (N, W) columns showing the picture
    width = lit.float().mean(1)
    assert ((width >= 0.28) & (width <= 0.53)).all()  # a 0.3-0.5 share of the width, bars around it
    x = (torch.arange(64) + 0.5) / 32 - 1
    for i in range(4):  # the picture sits in the middle and holds the whole box
        shown = x[lit[i]]
        assert abs(float(shown.min() + shown.max())) < 0.1
        left, right = new_box[i, 0] - new_box[i, 2], new_box[i, 0] + new_box[i, 2]
        assert shown.min() - 0.05 <= left and right <= shown.max() + 0.05


def test_coord_l1_is_the_weighted_mean_joint_distance():
    pred = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    target = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    assert float(coord_l1(pred, target, torch.tensor([[1.0, 0.0]]))) == pytest.approx(0.5)
    assert float(coord_l1(pred, target, torch.tensor([[1.0, 1.0]]))) == pytest.approx((0.5 + 2.0) / 2)
    with pytest.raises(ValueError):
        coord_l1(pred, target[:, :1], torch.ones(1, 2))


def test_heatmap_ce_is_lowest_for_a_gaussian_on_the_joint():
    side, sigma = 8, 1.5
    target = torch.tensor([[[-0.625, 0.375]]])  # the centre of cell (row 5, col 1)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")

    def gaussian_logits(row: int, col: int) -> torch.Tensor:
        return (-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2)).reshape(1, 1, -1).float()

    w = torch.ones(1, 1)
    on, off = heatmap_ce(gaussian_logits(5, 1), target, side, w), heatmap_ce(gaussian_logits(2, 5), target, side, w)
    p = torch.softmax(gaussian_logits(5, 1), -1)
    entropy = float(-(p * p.log()).sum())
    assert float(on) == pytest.approx(entropy, rel=1e-4)  # cross-entropy reaches the target's entropy
    assert float(off) > float(on) + 3


def test_confidence_learns_which_joints_are_right():
    pred = torch.tensor([[[0.0, 0.0], [0.5, 0.5]]])
    target = torch.tensor([[[0.01, 0.0], [0.0, 0.0]]])
    inside = torch.tensor([[True, True]])
    right = confidence_bce(torch.tensor([[0.99, 0.01]]), pred, target, inside)
    wrong = confidence_bce(torch.tensor([[0.01, 0.99]]), pred, target, inside)
    assert float(right) < 0.02 < 4 < float(wrong)


def test_box_loss_is_zero_for_the_labeled_box_and_grows_off_it():
    logits = torch.zeros(1, 4, 4)
    logits[0, 2, 1] = 50.0  # all mass on the cell holding the centre
    target = torch.tensor([[-0.25, 0.25, 0.2, 0.3]])
    exact = box_loss(target[:, :2], target[:, 2:], logits, target, ce_weight=1.0)
    off = box_loss(target[:, :2] + 0.1, target[:, 2:] * 2, logits, target, ce_weight=1.0)
    assert float(exact) < 1e-6
    assert float(off) == pytest.approx(0.2 + 2 * math.log(2), abs=1e-4)


def test_pck_counts_joints_within_a_fifth_of_the_torso_diagonal():
    target = np.zeros((1, 17, 2))
    names = ("lshoulder", "rshoulder", "lhip", "rhip")
    for n, xy in zip(names, [(0, 0), (30, 0), (0, 40), (30, 40)]):
        target[0, H36M_17.index(n)] = xy
    assert torso_diagonal(target)[0] == pytest.approx(50.0)  # a 30 x 40 torso: 50 px diagonals
    pred = target.copy()
    moved = CORE_JOINTS[:3]
    pred[0, list(moved), 0] += 11.0  # beyond 0.2 x 50 = 10 px
    visible = np.ones((1, 17), bool)
    assert pck(pred, target, visible) == pytest.approx(9 / 12)
    visible[0, list(moved)] = False  # joints not in view are not counted
    assert pck(pred, target, visible) == pytest.approx(1.0)


def test_config_refuses_sizes_the_network_cannot_take():
    with pytest.raises(ValueError, match="crop_size"):
        PoseNetConfig(crop_size=100)
    with pytest.raises(ValueError, match="detector_stride"):
        PoseNetConfig(frame_size=(290, 512))
    assert PoseNetConfig.from_dict(SIZES["full"].to_dict()) == SIZES["full"]
    for crop in (160, 224, 384):  # the presence branch computes at 192 and 256 only (an add, or its 2x2 conv, breaks)
        with pytest.raises(ValueError, match="presence needs crop_size 192 or 256"):
            replace(SIZES["real-lite"], crop_size=crop)
    assert replace(SIZES["real-lite"], crop_size=160, presence=False).crop_size == 160


def test_track_input_moves_the_crop():
    torch.manual_seed(0)
    net = PoseNet(SIZES["tiny"]).eval()
    frames = torch.rand(2, 3, *SIZES["tiny"].frame_size)
    track = torch.tensor([[0.0, 0, 0, 0, 0], [1.0, 0.5, -0.25, 0.1, 0.2]])
    with torch.no_grad():
        centre, half, scale, *_ = net(frames, track)
        free_centre, *_ = net(frames)
    assert torch.allclose(centre[0], free_centre[0])
    assert torch.allclose(centre[1], torch.tensor([0.5, -0.25])) and torch.allclose(half[1], torch.tensor([0.1, 0.2]))


def test_frames_in_0_255_give_the_outputs_of_frames_in_0_1():
    torch.manual_seed(0)
    net = PoseNet(SIZES["tiny"]).eval()
    pixels = torch.randint(0, 256, (2, 3, *SIZES["tiny"].frame_size)).float()
    track = torch.tensor([[0.0, 0, 0, 0, 0], [1.0, 0.5, -0.25, 0.1, 0.2]])
    with torch.no_grad():
        unit = net(pixels / 255, track)
        raw = net(pixels, track, pixel_max=255.0)
    for a, b in zip(unit, raw):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


# ---- cache, training and export on a tiny labeled pattern video -------------------------------------------


@pytest.fixture(scope="module")
def tiny_cache(rig_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train.posenet.cache import build_cache

    out = tmp_path_factory.mktemp("posenet_cache") / "rig"
    meta = build_cache(rig_dir, out, side=48, small=SIZES["tiny"].detector_size)
    assert meta["frames"] == 3 * 240
    return out


def test_cache_puts_the_box_centre_in_the_middle_of_each_precrop(tiny_cache: Path):
    from train.posenet.cache import load_cache

    cache = load_cache(tiny_cache)
    j2 = cache.labels["joints2d"]  # the pattern's joints lie on a grid inside the box
    assert np.allclose((j2.min(1) + j2.max(1)) / 2, 0.0, atol=0.05)
    assert np.allclose(cache.labels["tight"], 0.5, atol=0.02)  # the pre-crop is twice the (square) box
    assert cache.image_rows("crops", np.array([0, 500])).shape == (2, 48, 48, 3)


def test_cache_frames_keep_the_clip_s_aspect_between_bars_and_the_boxes_follow(tiny_cache: Path, rig_dir: Path):
    """The rig's 4:3 clips (160x120) in the tiny detector's 16:9 frame (36x64): content 48 columns wide from
    column 8, black beside it, and each normalised box is its labeled box placed there."""
    from train.posenet.cache import load_cache
    from tvstream.labels import load_any_labels

    cache = load_cache(tiny_cache)
    frames = cache.image_rows("frames", np.arange(0, 240, 40))  # the first clip's rows
    assert frames.shape[1:3] == (36, 64)
    assert frames[:, :, :8].max() == 0 and frames[:, :, 56:].max() == 0 and frames[:, :, 8:56].mean() > 10
    labels = load_any_labels(sorted(rig_dir.glob("*.npz"))[0])
    x0, y0, x1, y1 = labels.box[0]
    cx, cy, hx, hy = cache.labels["box"][0]
    # edges: source x -> 8 + x * 48 / 160 model columns -> normalised over 64; y -> y * 36 / 120 over 36
    np.testing.assert_allclose([cx, hx], [(8 + (x0 + x1) / 2 * 0.3) / 32 - 1, (x1 - x0) / 2 * 0.3 / 32], atol=1e-5)
    np.testing.assert_allclose([cy, hy], [(y0 + y1) / 2 * 0.3 / 18 - 1, (y1 - y0) / 2 * 0.3 / 18], atol=1e-5)


def test_a_phone_clip_stored_sideways_is_cached_upright_as_its_labels_are(tmp_path: Path):
    """A clip stored sideways with a display rotation (a phone held upright) is cached as the runtime and the
    teacher see it: upright. Its rows match those of the same pictures stored upright."""
    import av

    from train.data.pattern_video import pattern_labels, render_pattern_frame, write_pattern_video
    from train.posenet.cache import cache_video
    from tvstream.labels import save_labels

    upright_clip = write_pattern_video(tmp_path / "upright.mp4", 12)
    sideways_clip = tmp_path / "sideways.mp4"
    with av.open(str(sideways_clip), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 120, 160, "yuv420p"  # stored turned a quarter clockwise
        stream.options = {"crf": "12", "preset": "veryfast"}
        stream.set_display_rotation(90)
        for t in range(12):
            stored = np.ascontiguousarray(np.rot90(render_pattern_frame(t, 160, 120), -1))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        container.mux(stream.encode())
    save_labels(tmp_path / "labels.npz", pattern_labels(12))
    small = SIZES["tiny"].detector_size
    want = cache_video(upright_clip, tmp_path / "labels.npz", 48, small)
    got = cache_video(sideways_clip, tmp_path / "labels.npz", 48, small)
    np.testing.assert_allclose(got["box"], want["box"], atol=1e-6)
    assert np.abs(got["frames"].astype(int) - want["frames"]).mean() < 4  # the same pictures, coded twice
    assert np.abs(got["crops"].astype(int) - want["crops"]).mean() < 4


def test_held_out_clips_are_the_videos_training_leaves_out(tiny_cache: Path):
    from train.posenet.cache import held_out_clips, load_cache
    from train.posenet.fit import split_rows

    groups = held_out_clips(tiny_cache, val_every=2)  # 3 clips: the second is held out
    assert list(groups) == [tiny_cache.name] and len(groups[tiny_cache.name]) == 1
    (video, labels), = groups[tiny_cache.name]
    assert video.name == "seq1_c1.mp4" and labels.is_file() and labels.stem == "seq1_c1"
    cache = load_cache(tiny_cache)
    _, held = split_rows(cache, 2)
    assert set(cache.labels["video"][held].tolist()) == {1}  # the rows training holds out are that clip's


def test_a_damaged_clip_is_named_and_left_out_of_the_cache(rig_dir: Path, tmp_path: Path, caplog):
    import shutil

    from train.posenet.cache import build_cache

    shard = tmp_path / "shard"
    shutil.copytree(rig_dir, shard)
    (shard / "seq1_c1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))  # a header and nothing else
    meta = build_cache(shard, tmp_path / "cache", side=32, small=SIZES["tiny"].detector_size)
    assert meta["frames"] == 2 * 240  # the two good clips are all there
    assert any("seq1_c1.mp4" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records)


def test_a_cache_is_built_again_when_its_clips_were_rendered_again(rig_dir: Path, tmp_path: Path):
    import os
    import shutil

    from train.posenet.cache import build_cache

    shard = tmp_path / "shard"
    shutil.copytree(rig_dir, shard)
    small = SIZES["tiny"].detector_size
    first = build_cache(shard, tmp_path / "cache", side=32, small=small)
    assert build_cache(shard, tmp_path / "cache", side=32, small=small) == first  # reused as it is
    labels = shard / "seq1_c0.npz"
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))  # re-rendered
    again = build_cache(shard, tmp_path / "cache", side=32, small=small)
    assert again["fingerprint"] != first["fingerprint"] and again["frames"] == first["frames"]


def test_a_replay_sample_holds_the_same_rows_as_the_world_it_was_drawn_from(tiny_cache: Path, tmp_path: Path):
    from train.posenet.cache import load_cache, sample_cache
    from tvstream.errors import LabelError

    world = tmp_path / "world"
    world.mkdir()
    (world / "a").symlink_to(tiny_cache)
    (world / "b").symlink_to(tiny_cache)  # two shards: global rows run over both

    def draw(rows: int, side: int = 48) -> dict:
        return sample_cache(world, tmp_path / "replay", rows=rows, side=side, small=SIZES["tiny"].detector_size, seed=3)

    meta = draw(100)
    assert meta["frames"] == 100 and meta["side"] == 48 and meta["small"] == list(SIZES["tiny"].detector_size)
    src, got = load_cache(world), load_cache(tmp_path / "replay")
    assert len(got) == 100
    rows = [int(np.flatnonzero((src.labels["box"] == b).all(1) & (src.labels["joints2d"] == j).all((1, 2)))[0])
            for b, j in zip(got.labels["box"][:5], got.labels["joints2d"][:5])]
    assert np.array_equal(got.image_rows("crops", np.arange(5)), src.image_rows("crops", np.array(rows)))
    assert np.array_equal(got.labels["visible"][:5], src.labels["visible"][rows])
    stamp = (tmp_path / "replay" / "crops.npy").stat().st_mtime_ns
    assert draw(100) == meta  # the same draw: kept
    assert (tmp_path / "replay" / "crops.npy").stat().st_mtime_ns == stamp
    with pytest.raises(LabelError, match="48 px crops"):  # another network's sizes: refused, nothing rewritten
        draw(100, side=160)
    assert (tmp_path / "replay" / "crops.npy").stat().st_mtime_ns == stamp
    assert draw(10**6)["frames"] == len(src)  # all there is


def test_frames_labeled_in_2d_only_are_cached_and_train_2d_without_3d(rig_dir: Path, tmp_path: Path):
    """A clip whose labels have 2D and a confidence but no 3D (a teacher's pseudo-labels): its rows are cached
    with NaN 3D and the confidence as 2D weight; in the loss they add nothing to the 3D term, and a joint of
    weight 0 adds nothing to the 2D terms."""
    import dataclasses
    import shutil

    from train.posenet.cache import build_cache, load_cache
    from train.posenet.fit import FitConfig, losses, rows_to_tensors
    from tvstream.labels import load_labels, save_labels

    shard = tmp_path / "shard"
    shutil.copytree(rig_dir, shard)
    labels = load_labels(shard / "seq1_c2.npz")
    save_labels(shard / "seq1_c2.npz", dataclasses.replace(labels, joints3d=np.full_like(labels.joints3d, np.nan)))
    build_cache(shard, tmp_path / "cache", side=32, small=SIZES["tiny"].detector_size)
    cache = load_cache(tmp_path / "cache")
    only2d = np.isnan(cache.labels["joints3d"]).any(axis=(1, 2))
    assert only2d.sum() == 240 and len(cache) == 3 * 240
    assert np.all(cache.labels["weight2d"] == 1.0)  # rendered labels: every joint trusted

    torch.manual_seed(0)
    model = PoseNet(SIZES["tiny"]).eval()
    cfg = FitConfig(model="tiny", augment=NO_AUG, threads=1)
    g = torch.Generator().manual_seed(0)
    rows = np.flatnonzero(only2d)[:4]
    batch = rows_to_tensors(cache, rows)
    assert not batch["has3d"].any() and torch.isfinite(batch["joints3d"]).all()
    _, stats = losses(model, batch, cfg, g, train=False)
    assert stats["pose3d"] == 0.0 and stats["coords"] > 0.0
    batch["weight2d"] = torch.zeros_like(batch["weight2d"])
    _, none = losses(model, batch, cfg, g, train=False)
    assert none["coords"] == 0.0 and none["heatmap"] == 0.0


def test_hold3d_is_the_mean_3d_distance_to_the_start_model_on_rows_without_3d(tiny_cache: Path):
    """On rows without 3D labels (``has3d`` False) the term is the mean L1 joint distance (as ``pose3d``'s) between
    the network's root-relative 3D and the start model's of the same crop (rows with 3D add nothing); weighted into
    the loss."""
    from train.posenet.cache import load_cache
    from train.posenet.fit import FitConfig, LossWeights, losses, network_inputs, rows_to_tensors

    cache = load_cache(tiny_cache)
    torch.manual_seed(0)
    model = PoseNet(SIZES["tiny"]).eval()
    torch.manual_seed(1)
    start = PoseNet(SIZES["tiny"]).eval()
    cfg = FitConfig(model="tiny", augment=NO_AUG, threads=1, freeze_bn=True, weights=LossWeights(hold3d=3.0))
    batch = rows_to_tensors(cache, np.arange(6))
    batch["has3d"] = torch.tensor([True, False, True, False, False, True])
    g = torch.Generator().manual_seed(0)
    total, stats = losses(model, batch, cfg, g, train=False, start=start)
    crops = network_inputs(batch, model.cfg, cfg, g, train=False)[0]
    with torch.no_grad():
        mine, theirs = model.read_crop(crops)[1], start.read_crop(crops)[1]
    by_hand = float((mine - theirs).abs().sum(-1)[~batch["has3d"]].mean())
    assert by_hand > 0.01 and stats["hold3d"] == pytest.approx(by_hand, rel=1e-5)
    plain, without = losses(model, batch, cfg, g, train=False)  # no start model: no term
    assert "hold3d" not in without and float((total - plain).detach()) == pytest.approx(3.0 * by_hand, rel=1e-4)
    assert losses(model, batch, cfg, g, train=False, start=model)[1]["hold3d"] == 0.0
    batch["has3d"][:] = True  # every row has 3D: nothing to hold (the start model is not run)
    assert "hold3d" not in losses(model, batch, cfg, g, train=False, start=start)[1]


def test_a_run_holding_3d_keeps_the_start_model_s_3d_where_only_2d_is_labeled(rig_dir: Path, tmp_path: Path):
    """Every row labeled in 2D only (a teacher's): the head trained on the 2D moves its 3D; with ``hold3d`` the
    3D stays nearer the start's. The held run resumes exactly (its start is read from the init's file), and
    ``hold3d`` without an init, or with batch norms that learn their statistics, is refused."""
    import dataclasses
    import shutil

    from train.posenet.cache import build_cache, load_cache
    from train.posenet.fit import FitConfig, LossWeights, fit, load_model, rows_to_tensors
    from tvstream.labels import load_labels, save_labels

    shard = tmp_path / "shard"
    shutil.copytree(rig_dir, shard)
    for labels_path in shard.glob("*.npz"):
        labels = load_labels(labels_path)
        save_labels(labels_path, dataclasses.replace(labels, joints3d=np.full_like(labels.joints3d, np.nan)))
    build_cache(shard, tmp_path / "cache", side=48, small=SIZES["tiny"].detector_size)
    base = FitConfig(model="tiny", cache=str(tmp_path / "cache"), steps=2, batch=4, warmup=1, val_every=3, threads=1)
    fit(base, tmp_path / "start")
    start_path = tmp_path / "start" / "last.pt"
    head = replace(base, steps=30, lr=1e-2, eval_every=30, part="head", init=str(start_path), freeze_bn=True)
    fit(head, tmp_path / "plain")
    held = replace(head, weights=LossWeights(hold3d=20.0))
    straight = fit(held, tmp_path / "held")
    crops = rows_to_tensors(load_cache(tmp_path / "cache"), np.arange(0, 720, 45))["crops"]
    with torch.no_grad():
        xyz = {name: load_model(tmp_path / name / "last.pt")[0].read_crop(crops)[1]
               for name in ("start", "plain", "held")}
    moved = {name: float((xyz[name] - xyz["start"]).norm(dim=-1).mean()) for name in ("plain", "held")}
    assert moved["plain"] > 0.02 and moved["held"] < 0.5 * moved["plain"], moved

    def stop(step: int, total: int, stats: dict) -> None:
        if step == 15:
            raise KeyboardInterrupt  # a run stopped after its checkpoint at step 15

    with pytest.raises(KeyboardInterrupt):
        fit(replace(held, checkpoint_every=15), tmp_path / "resumed", progress=stop)
    resumed = fit(replace(held, checkpoint_every=15), tmp_path / "resumed", resume=True)
    assert resumed["hold3d"] == pytest.approx(straight["hold3d"], rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match="init"):
        fit(replace(held, init=None), tmp_path / "no_init")
    with pytest.raises(ValueError, match="freeze_bn"):  # else the two reads would differ by their norms
        replace(held, freeze_bn=False)


def test_fit_resumes_exactly_and_refuses_another_config(tiny_cache: Path, tmp_path: Path):
    from train.posenet.fit import FitConfig, fit

    cfg = FitConfig(model="tiny", cache=str(tiny_cache), steps=4, batch=4, warmup=2, val_every=3, eval_every=4,
                    checkpoint_every=2, threads=1)
    straight = fit(cfg, tmp_path / "a")
    fit(replace(cfg, steps=2), tmp_path / "b")
    resumed = fit(cfg, tmp_path / "b", resume=True)
    assert resumed["step"] == straight["step"] == 4
    assert resumed["loss"] == pytest.approx(straight["loss"], rel=1e-5)
    assert "val_pck_crop" in straight
    with pytest.raises(CheckpointError, match="already holds"):
        fit(cfg, tmp_path / "a")
    with pytest.raises(CheckpointError, match="model"):
        fit(replace(cfg, model="lite"), tmp_path / "a", resume=True)


def test_a_channels_last_run_trains_the_same_network_to_float_rounding(tiny_cache: Path, tmp_path: Path):
    from train.checkpoint import load_checkpoint
    from train.posenet.fit import FitConfig, fit

    cfg = FitConfig(model="tiny", cache=str(tiny_cache), steps=3, batch=4, warmup=1, val_every=3, threads=1,
                    channels_last=False)
    plain, fast = fit(cfg, tmp_path / "plain"), fit(replace(cfg, channels_last=True), tmp_path / "fast")
    assert fast["loss"] == pytest.approx(plain["loss"], rel=1e-4)
    a, b = (load_checkpoint(tmp_path / run / "last.pt")["model"] for run in ("plain", "fast"))
    kernels = [k for k, v in b.items() if v.dim() == 4 and v.shape[1] > 1 and v.shape[2] > 1]
    assert kernels and all(b[k].is_contiguous(memory_format=torch.channels_last) and not b[k].is_contiguous()
                           for k in kernels)  # the run's convolutions ran channels-last
    assert all(a[k].is_contiguous() for k in kernels)
    torch.manual_seed(cfg.seed)
    nets = [PoseNet(SIZES["tiny"]).eval()]  # the runs' start, then each run's end
    for state in (a, b):
        nets.append(PoseNet(SIZES["tiny"]).eval())
        nets[-1].load_state_dict(state)
    crops = torch.rand(6, 3, SIZES["tiny"].crop_size, SIZES["tiny"].crop_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        start, trained_plain, trained_fast = (torch.cat([t.flatten(1) for t in net.read_crop(crops)[:3]], 1)
                                              for net in nets)
    moved = (trained_plain - start).norm()
    assert moved > 0.01  # three steps changed what the network computes ...
    assert (trained_fast - trained_plain).norm() < 0.01 * moved  # ... and both runs changed it alike


@pytest.fixture(scope="module")
def tiny_start(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 2-step tiny run to start part runs from: ``(its FitConfig, its checkpoint path)``."""
    from train.posenet.fit import FitConfig, fit

    base = FitConfig(model="tiny", cache=str(tiny_cache), steps=2, batch=4, warmup=1, val_every=3, threads=1)
    out = tmp_path_factory.mktemp("tiny_start")
    fit(base, out)
    return base, out / "last.pt"


def test_a_detector_run_trains_the_box_and_leaves_the_pose_head_as_it_was(tiny_start, tmp_path: Path):
    from train.checkpoint import load_checkpoint
    from train.posenet.fit import fit

    base, start_path = tiny_start
    start = load_checkpoint(start_path)["model"]
    stats = fit(replace(base, steps=30, lr=3e-3, eval_every=30, part="detector", init=str(start_path)), tmp_path / "det")
    after = load_checkpoint(tmp_path / "det" / "last.pt")["model"]
    assert set(stats) >= {"box", "box_iou", "val_box_iou"} and "coords" not in stats
    for name, tensor in start.items():
        if not name.startswith("detector."):
            assert torch.equal(tensor, after[name]), name  # the head's weights and norm statistics untouched
    weights = [n for n in start if n.startswith("detector.") and n.endswith(".weight")]
    assert all(not torch.equal(start[n], after[n]) for n in weights)
    with pytest.raises(ValueError, match="part"):
        replace(base, part="box")


def test_a_head_run_trains_the_pose_head_and_leaves_the_detector_as_it_was(tiny_start, tmp_path: Path):
    from train.checkpoint import load_checkpoint
    from train.posenet.fit import fit

    base, start_path = tiny_start
    start = load_checkpoint(start_path)["model"]
    stats = fit(replace(base, steps=6, lr=3e-3, eval_every=6, part="head", init=str(start_path)), tmp_path / "head")
    after = load_checkpoint(tmp_path / "head" / "last.pt")["model"]
    assert {"coords", "pose3d", "val_pck_crop"} <= set(stats) and "box" not in stats
    for name, tensor in start.items():
        if name.startswith("detector."):
            assert torch.equal(tensor, after[name]), name  # the detector's weights and norm statistics untouched
    weights = [n for n in start if n.startswith("head.") and n.endswith(".weight")]
    assert weights and all(not torch.equal(start[n], after[n]) for n in weights)


def test_empty_crops_teach_the_confidence_that_nobody_is_there(tiny_start, tmp_path: Path):
    """The same head run with and without person-free crops in its batches, the confidence taught by them alone
    (its term on the people's crops off): the confidence on empty crops it never trained on falls with them, and
    the run reports the term."""
    from train.posenet.empty import empty_crops
    from train.posenet.fit import LossWeights, fit, load_model

    base, start_path = tiny_start
    head = replace(base, steps=60, lr=1e-2, eval_every=60, part="head", init=str(start_path),
                   weights=LossWeights(confidence=0.0, empty=1.0))
    plain = fit(head, tmp_path / "plain")
    taught = fit(replace(head, empty_crops=4), tmp_path / "taught")
    assert "empty" not in plain and {"empty", "empty_conf"} <= set(taught)
    unseen = empty_crops(16, SIZES["tiny"].crop_size, torch.Generator().manual_seed(99))
    with torch.no_grad():
        conf = {name: float(load_model(tmp_path / name / "last.pt")[0].read_crop(unseen)[2].mean())
                for name in ("plain", "taught")}
    assert conf["taught"] < 0.3 and conf["taught"] < conf["plain"] - 0.15, conf
    with pytest.raises(ValueError, match="empty_crops"):
        replace(base, empty_crops=-1)


def test_a_confidence_run_moves_the_confidence_rows_alone(tiny_start, tmp_path: Path):
    """``part="confidence"`` with empty crops: every weight and norm statistic but the confidence's rows of the
    head's output convolution stays bit for bit (the 2D and 3D cannot move), and the confidence on unseen empty
    crops falls."""
    from train.checkpoint import load_checkpoint
    from train.posenet.empty import empty_crops
    from train.posenet.fit import fit, load_model

    base, start_path = tiny_start
    stats = fit(replace(base, steps=60, lr=3e-2, eval_every=60, part="confidence", empty_crops=4,
                        init=str(start_path)), tmp_path / "conf")
    assert {"empty", "confidence", "val_pck_crop"} <= set(stats) and "box" not in stats
    start, after = (load_checkpoint(p)["model"] for p in (start_path, tmp_path / "conf" / "last.pt"))
    k = SIZES["tiny"].joints
    for name, tensor in start.items():
        if name in ("head.out.weight", "head.out.bias"):
            assert torch.equal(tensor[:-k], after[name][:-k]) and not torch.equal(tensor[-k:], after[name][-k:])
        else:
            assert torch.equal(tensor, after[name]), name
    unseen = empty_crops(16, SIZES["tiny"].crop_size, torch.Generator().manual_seed(99))
    with torch.no_grad():
        conf = [float(load_model(p)[0].read_crop(unseen)[2].mean()) for p in (start_path, tmp_path / "conf" / "last.pt")]
    assert conf[1] < conf[0] - 0.15, conf


def test_init_from_a_model_with_another_head_takes_its_detector_only(tiny_cache: Path, tmp_path: Path, monkeypatch):
    from train.checkpoint import load_checkpoint
    from train.posenet import fit as fit_module
    from train.posenet.fit import FitConfig, fit

    base = FitConfig(model="tiny", cache=str(tiny_cache), steps=1, batch=4, warmup=1, val_every=3, threads=1)
    fit(base, tmp_path / "start")
    other_head = replace(SIZES["tiny"], crop_size=48, width=8)
    monkeypatch.setitem(fit_module.SIZES, "tiny-other-head", other_head)
    fit(replace(base, model="tiny-other-head", lr=1e-9, freeze_bn=True, init=str(tmp_path / "start" / "last.pt")),
        tmp_path / "b")
    start = load_checkpoint(tmp_path / "start" / "last.pt")["model"]
    after = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    for name, tensor in start.items():
        if name.startswith("detector.") and tensor.is_floating_point():
            assert torch.allclose(tensor, after[name], atol=1e-6), name  # taken (lr 1e-9, norms frozen: kept)
    monkeypatch.setitem(fit_module.SIZES, "tiny-other-detector", replace(SIZES["tiny"], detector_width=8))
    with pytest.raises(CheckpointError, match="box detector"):
        fit(replace(base, model="tiny-other-detector", init=str(tmp_path / "start" / "last.pt")), tmp_path / "c")


def test_init_from_a_model_that_differs_in_run_time_settings_alone_takes_all_its_weights(tiny_cache: Path,
                                                                                         tmp_path: Path, monkeypatch):
    """A shipped model reads both ways and its person detector reads the whole frame; a run of the plain preset
    from it takes its head too (it once took the detectors alone and trained a random head: session 29)."""
    from train.checkpoint import load_checkpoint
    from train.posenet import fit as fit_module
    from train.posenet.fit import FitConfig, fit

    base = FitConfig(model="tiny", cache=str(tiny_cache), steps=1, batch=4, warmup=1, val_every=3, threads=1)
    monkeypatch.setitem(fit_module.SIZES, "tiny-shipped", replace(SIZES["tiny"], mirror_read=True, person_view="square",
                                                                  detector_min_score=0.9))
    fit(replace(base, model="tiny-shipped"), tmp_path / "start")
    assert SIZES["tiny"].same_weights(fit_module.SIZES["tiny-shipped"])
    assert not SIZES["tiny"].same_weights(replace(SIZES["tiny"], width=8))
    fit(replace(base, lr=1e-9, freeze_bn=True, init=str(tmp_path / "start" / "last.pt")), tmp_path / "b")
    start = load_checkpoint(tmp_path / "start" / "last.pt")["model"]
    after = load_checkpoint(tmp_path / "b" / "last.pt")
    assert after["config"]["model"]["mirror_read"] is False  # the run's own settings
    heads = [k for k, v in start.items() if k.startswith("head.") and v.is_floating_point()]
    assert heads and all(torch.allclose(start[k], after["model"][k], atol=1e-6) for k in heads)


def _onnx_matches_torch(session, meta, graph, frames: np.ndarray, track: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime's outputs of ``frames``/``track``, each asserted equal to the torch graph's (0.5 mm in 3D,
    0.01 px elsewhere)."""
    got = session.run(list(meta.outputs), {"frames": frames, "track": track})
    with torch.no_grad():
        want = graph(torch.from_numpy(frames), torch.from_numpy(track))
    for name, a, b in zip(meta.outputs, got, want):
        tol = 0.5 if name == "pose3d" else 1e-2  # mm / px
        assert a.shape == tuple(b.shape) and np.abs(a - b.numpy()).max() < tol, name
    return got


def test_export_matches_torch_at_batch_1_and_8_with_and_without_tracking(tiny_cache: Path, tmp_path: Path):
    import onnxruntime as ort

    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    cfg = SIZES["tiny"]
    ckpt = save_checkpoint(tmp_path / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}},
                           step=1, model=PoseNet(cfg))
    meta = export_onnx(ckpt, tmp_path / "m.onnx")
    assert meta.inputs == ("frames", "track") and "conf" in meta.outputs
    graph, _ = build_posenet_graph(load_checkpoint(ckpt))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    h, w = cfg.frame_size
    for n in (1, 8):
        frames = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
        track = np.zeros((n, 5), np.float32)
        track[::2] = [1, 0.2, -0.1, 0.3, 0.4]
        got = _onnx_matches_torch(session, meta, graph, frames, track)
        conf = got[list(meta.outputs).index("conf")]
        assert ((conf >= 0) & (conf <= 1)).all()


def test_train_export_and_run_end_to_end_from_the_cli(rig_dir: Path, tmp_path: Path):
    """`tvstream train posenet` on labeled clips, `export`, then `run` with the exported model: real processes."""
    import json
    import subprocess
    import sys

    def tvstream(*args):
        return subprocess.run([sys.executable, "-m", "tvstream", "--quiet", *map(str, args)], capture_output=True,
                              text=True, timeout=300)

    out = tvstream("train", "posenet", "--data", rig_dir, "--out", tmp_path / "run", "--cache", tmp_path / "cache",
                   "--size", "tiny", "--steps", "3", "--batch-size", "4")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "cache" / rig_dir.name / "cache.json").is_file()  # one cache folder per --data
    out = tvstream("train", "posenet", "--data", rig_dir, "--out", tmp_path / "run", "--cache", tmp_path / "cache",
                   "--size", "tiny", "--steps", "3")
    assert out.returncode != 0 and "already holds a run" in out.stderr and "Traceback" not in out.stderr
    out = tvstream("export", tmp_path / "run" / "last.pt", "--out", tmp_path / "m.onnx")
    assert out.returncode == 0, out.stderr
    video = next(rig_dir.glob("*.mp4"))
    out = tvstream("run", video, "--model", tmp_path / "m.onnx", "--out", tmp_path / "p.jsonl")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert lines[0]["schema"] == "tvstream.pose/4" and lines[-1]["type"] == "end"
    poses = [line for line in lines if line["type"] == "pose"]
    assert len(poses) == lines[-1]["frames"] == 240
    assert all(p["conf"] is None or len(p["conf"]) == 17 for p in poses)


def _export_tiny_with_real_norms(tmp_path: Path):
    """A tiny pose network whose batch norms are not the identity (so folding them matters), exported."""
    from engines.export import export_onnx
    from train.checkpoint import save_checkpoint

    torch.manual_seed(1)
    cfg = SIZES["tiny"]
    net = PoseNet(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    ckpt = save_checkpoint(tmp_path / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}},
                           step=7, model=net)
    return ckpt, export_onnx(ckpt, tmp_path / "m.onnx"), tmp_path / "m.onnx"


def _installed_tiny(tmp_path: Path):
    """``(checkpoint, metadata, installed)``: the tiny exported model copied to ``tmp_path/package/default.onnx``, as
    the package holds its default."""
    import shutil

    ckpt, meta, onnx_path = _export_tiny_with_real_norms(tmp_path)
    installed = tmp_path / "package" / "default.onnx"
    installed.parent.mkdir()
    shutil.copyfile(onnx_path, installed)
    return ckpt, meta, installed


def test_a_checkpoint_recovered_from_onnx_computes_the_exported_graph(tmp_path: Path):
    import onnxruntime as ort

    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint
    from train.posenet.from_onnx import module_path, write_checkpoint

    assert module_path("/net/detector/trunk/s1/s1.0/conv1/Conv") == "detector.trunk.s1.0.conv1"
    assert module_path("/net/head/up/up.1/up.1.0/Conv") == "head.up.1.0"
    _, meta, onnx_path = _export_tiny_with_real_norms(tmp_path)
    state = load_checkpoint(write_checkpoint(onnx_path, tmp_path / "recovered.pt"))
    assert state["step"] == 7 and state["config"]["kind"] == "posenet"
    graph, _ = build_posenet_graph(state)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    h, w = SIZES["tiny"].frame_size
    frames = np.random.default_rng(0).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    track = np.zeros((3, 5), np.float32)
    track[1] = [1, 0.1, 0.0, 0.3, 0.5]
    got = session.run(list(meta.outputs), {"frames": frames, "track": track})
    with torch.no_grad():
        want = graph(torch.from_numpy(frames), torch.from_numpy(track))
    for name, a, b in zip(meta.outputs, got, want):
        assert np.abs(a - b.numpy()).max() < (0.5 if name == "pose3d" else 1e-3), name


def test_reexport_installs_the_same_weights_with_their_card_and_refuses_other_weights(tmp_path: Path):
    from train.checkpoint import save_checkpoint
    from train.default_model import reexport_default_model

    _, meta, installed = _installed_tiny(tmp_path)
    card = {"trained_on": "noise", "file": {"bytes": 1, "hash": meta.model_hash, "input_size": [72, 128]}}
    installed.with_suffix(".json").write_text(json.dumps(card))
    report = reexport_default_model(tmp_path, installed)
    assert report["frames"] == 250 and report["pose3d_max_mm"] < 0.5 and report["pose2d_max_px"] < 0.05
    kept = json.loads(installed.with_suffix(".json").read_text())
    assert kept["trained_on"] == "noise" and kept["file"]["bytes"] == installed.stat().st_size
    other = tmp_path / "other"
    torch.manual_seed(2)
    save_checkpoint(other / "last.pt", config={"kind": "posenet", "model": SIZES["tiny"].to_dict(), "fit": {}},
                    step=7, model=PoseNet(SIZES["tiny"]))
    before = installed.read_bytes()
    with pytest.raises(SystemExit, match="other weights"):
        reexport_default_model(other, installed)
    with pytest.raises(SystemExit, match="other weights"):  # a graph change does not let other weights in
        reexport_default_model(other, installed, changes="Then something else.")
    assert installed.read_bytes() == before


def test_build_installs_only_a_better_model_and_its_card_names_the_replaced_one_by_hash(tmp_path: Path,
                                                                                        monkeypatch):
    import train.default_model as default_model
    from train.checkpoint import save_checkpoint

    _, meta, installed = _installed_tiny(tmp_path)
    torch.manual_seed(2)
    other = save_checkpoint(tmp_path / "other" / "last.pt", step=9, model=PoseNet(SIZES["tiny"]),
                            config={"kind": "posenet", "model": SIZES["tiny"].to_dict(), "fit": {}})

    def scores(pck: float, mpjpe: float, weights: str = "candidate") -> dict:  # as score() gives them
        group = {"frames": 10, "pck": pck, "mpjpe": mpjpe}
        return {"groups": {"bench (all)": group, "sample_ski": group}, "ms_per_frame": 1.0, "hash": weights}

    # the installed model scores 0.5 / 100 mm; the candidate first 0.6 / 120 mm (2D better, 3D worse), then better
    table = {installed: scores(0.5, 100.0, meta.model_hash)}
    monkeypatch.setattr(default_model, "score", lambda model, bench: table.get(model, table["new"]))
    table["new"] = scores(0.6, 120.0)
    before = installed.read_bytes()
    with pytest.raises(SystemExit, match="not better on the bench set"):
        default_model.build_default_model(other, tmp_path, installed)
    assert installed.read_bytes() == before
    table["new"] = scores(0.6, 90.0)
    card = default_model.build_default_model(other, tmp_path, installed)
    assert installed.read_bytes() != before and card["model"]["steps"] == 9
    assert card["replaced"] == meta.model_hash and card["replaced_scores"]["bench (all)"]["pck"] == 0.5
    assert card["file"]["hash"] != meta.model_hash and str(tmp_path) not in json.dumps(card)  # no machine paths
    assert json.loads(installed.with_suffix(".json").read_text()) == json.loads(json.dumps(card))


def test_the_card_says_when_the_run_chooses_among_mediapipe_s_next_persons_too():
    from train.default_model import people_note

    assert people_note(SIZES["real-lite-mpdet"].to_dict()) == ""
    two = people_note({**SIZES["real-lite-mpdet"].to_dict(), "detector_people": 2, "detector_others_min_score": 0.8})
    assert two.startswith(" Its graph gives the run MediaPipe's 2 best persons as people") and "taken 2 rounds" in two
    assert "scores them >= 0.8;" in two


def test_reexport_with_a_graph_change_installs_other_outputs_of_the_same_weights_and_says_so(tmp_path: Path,
                                                                                             monkeypatch):
    import engines.parity
    from engines.backends import load_backend
    from train.default_model import reexport_default_model
    from train.posenet.reconfigure import reconfigure

    ckpt, meta, installed = _installed_tiny(tmp_path)
    card = {"trained_on": "noise.", "model": {"steps": 7}, "file": {"bytes": 1, "hash": meta.model_hash}}
    installed.with_suffix(".json").write_text(json.dumps(card))
    # the same weights read both ways (a tiny random head reads every crop alike, so its outputs barely move:
    # the parity check is told they do)
    reconfigure(ckpt, tmp_path / "both" / "last.pt", mirror_read=True, mirror_disagree="direct")
    monkeypatch.setattr(engines.parity, "refuse_precision", lambda *a: "re-export 3D error 40 mm > 0.5 mm tolerance")
    before = installed.read_bytes()
    with pytest.raises(SystemExit, match="not installed: re-export"):
        reexport_default_model(tmp_path / "both", installed)
    assert installed.read_bytes() == before
    reexport_default_model(tmp_path / "both", installed, changes="Then read both ways.")
    written = json.loads(installed.with_suffix(".json").read_text())
    assert written["trained_on"] == "noise. Then read both ways." and written["model"]["steps"] == 7
    assert written["model"]["config"]["mirror_read"] and written["model"]["config"]["mirror_disagree"] == "direct"
    assert written["file"]["hash"] == meta.model_hash  # the same weights
    shipped = load_backend(installed, "onnxruntime").metadata  # the file's own card says so too
    assert shipped.model_hash == meta.model_hash and "Then read both ways." in json.dumps(shipped.config)


def test_reconfigure_sets_a_model_s_own_track_conf_keeping_its_weights_and_other_run_settings(tmp_path: Path,
                                                                                                   capsys):
    """``--track-conf 0.98`` over a model that carries 0.95: the export runs with 0.98, the same weights (hash) and
    int8 choice; a value out of [0, 1] is refused before anything is written."""
    from engines.backends import load_backend
    from engines.export import export_onnx
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.reconfigure import main, reconfigure

    torch.manual_seed(1)
    cfg = SIZES["tiny"]
    config = {"kind": "posenet", "model": cfg.to_dict(), "fit": {}, "run": {"track_conf": 0.95},
              "export": {"int8": ["detector."]}}
    ckpt = save_checkpoint(tmp_path / "last.pt", config=config, step=7, model=PoseNet(cfg))
    before = export_onnx(ckpt, tmp_path / "m.onnx")
    main([str(ckpt), str(tmp_path / "sure" / "last.pt"), "--track-conf", "0.98"])
    sure = load_checkpoint(tmp_path / "sure" / "last.pt", expect={"kind": "posenet"}, keys=("kind",))
    assert sure["config"]["run"] == {"track_conf": 0.98} and sure["config"]["export"] == {"int8": ["detector."]}
    main([str(ckpt), str(tmp_path / "held" / "last.pt"), "--track-shrink", "0.9"])  # the model's 0.95 kept
    held = load_checkpoint(tmp_path / "held" / "last.pt", expect={"kind": "posenet"}, keys=("kind",))
    assert held["config"]["run"] == {"track_conf": 0.95, "track_shrink": 0.9}
    assert sure["config"]["fit"]["reconfigured"]["track_conf"] == 0.98 and sure["step"] == 7
    after = export_onnx(tmp_path / "sure" / "last.pt", tmp_path / "sure.onnx")
    assert after.model_hash == before.model_hash and before.run_settings == {"track_conf": 0.95}
    assert load_backend(tmp_path / "sure.onnx", "onnxruntime").metadata.run_settings == {"track_conf": 0.98}
    with pytest.raises(ValueError, match="numbers in \\[0, 1\\]"):
        reconfigure(ckpt, tmp_path / "bad" / "last.pt", {"track_conf": 1.5})
    with pytest.raises(ValueError, match="named in track_conf"):
        reconfigure(ckpt, tmp_path / "bad" / "last.pt", {"keep_conf": 0.5})
    assert not (tmp_path / "bad").exists()


def test_expose_detections_adds_the_output_to_an_older_export(tmp_path: Path):
    import onnx
    import onnxruntime as ort

    from engines.metadata import ModelMetadata
    from engines.posenet_graph import expose_detections

    _, meta, onnx_path = _export_tiny_with_real_norms(tmp_path)
    assert expose_detections(str(onnx_path)) is False  # new exports have it
    model = onnx.load(str(onnx_path))  # make an "older" export: no detections output, nor in the metadata
    for i, out in enumerate(model.graph.output):
        if out.name == "detections":
            del model.graph.output[i]
            break
    old = ModelMetadata(**{**meta.__dict__, "outputs": tuple(o for o in meta.outputs if o != "detections")})
    del model.metadata_props[:]
    for k, v in old.to_props().items():
        model.metadata_props.add(key=k, value=v)
    older = tmp_path / "older.onnx"
    onnx.save(model, str(older))
    assert expose_detections(str(older)) is True
    h, w = SIZES["tiny"].frame_size
    feed = {"frames": np.random.default_rng(1).integers(0, 256, (2, h, w, 3), dtype=np.uint8),
            "track": np.zeros((2, 5), np.float32)}
    a = dict(zip(meta.outputs, ort.InferenceSession(str(onnx_path)).run(list(meta.outputs), feed)))
    b = ort.InferenceSession(str(older))
    assert [o.name for o in b.get_outputs()][-1] == "detections"
    b = dict(zip(meta.outputs, b.run(list(meta.outputs), feed)))
    for name in meta.outputs:
        np.testing.assert_array_equal(a[name], b[name])


def test_freeze_bn_keeps_the_norm_statistics_while_the_weights_learn(tiny_cache: Path, tmp_path: Path):
    from train.checkpoint import load_checkpoint
    from train.posenet.fit import FitConfig, fit
    from train.posenet.from_onnx import write_checkpoint

    _, _, onnx_path = _export_tiny_with_real_norms(tmp_path)
    init = write_checkpoint(onnx_path, tmp_path / "recovered.pt")
    cfg = FitConfig(model="tiny", cache=str(tiny_cache), steps=2, batch=4, warmup=1, eval_every=2, threads=1,
                    init=str(init), freeze_bn=True)
    fit(cfg, tmp_path / "run")
    before, after = load_checkpoint(init)["model"], load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert not torch.equal(before["head.out.weight"], after["head.out.weight"])


def test_native_bf16_is_read_from_the_cpu_flags():
    from tvstream.sysinfo import cpu_has_native_bf16

    assert cpu_has_native_bf16("processor: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not cpu_has_native_bf16("flags : fpu sse2 avx2 avx512f\n")
    assert not cpu_has_native_bf16("model name : no flags line\n")


def test_calibrated_norms_keep_the_recovered_outputs_and_normalise_again(tiny_cache: Path, tmp_path: Path):
    from train.posenet.cache import load_cache
    from train.posenet.fit import FitConfig, calibrate_norms, rows_to_tensors
    from train.posenet.from_onnx import recover

    _, _, onnx_path = _export_tiny_with_real_norms(tmp_path)
    net, _ = recover(onnx_path)
    cache = load_cache(tiny_cache)
    batch = rows_to_tensors(cache, np.arange(0, 720, 12))
    crops = torch.nn.functional.interpolate(batch["crops"], size=SIZES["tiny"].crop_size)
    with torch.no_grad():
        before = net.read_crop(crops)[1]
        assert calibrate_norms(net, [batch], FitConfig(model="tiny", cache=str(tiny_cache))) > 0
        after = net.read_crop(crops)[1]
        torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)  # eval: the same network
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert not all(torch.allclose(m.weight, torch.ones_like(m.weight)) for m in norms)  # real scales again
        net.train()  # batch statistics of the calibration data: close to the calibrated ones
        trained = net.read_crop(crops)[1]
    assert (trained - before).abs().mean() < 0.1 * before.abs().mean()


def test_labeled_track_crops_labeled_frames_on_their_boxes_and_leaves_the_rest_to_the_detector(tmp_path: Path):
    from train.data.pattern_video import pattern_labels
    from train.posenet.evaluate import labeled_track
    from tvstream.frame_fit import FrameFit
    from tvstream.labels import save_labels

    labels = pattern_labels(40, frames=np.arange(0, 40, 2))  # 160x120 frames, labels on even frames
    save_labels(tmp_path / "l.npz", labels)
    fit = FrameFit.of((120, 160), (120, 160))
    track = labeled_track(tmp_path / "l.npz", 30, fit)  # the video has fewer frames than the labels
    assert track.shape == (30, 5)
    np.testing.assert_array_equal(track[:, 0], np.arange(30) % 2 == 0)
    # the rest are detector frames naming the square around the picture (FrameFit.view_row): a 160 px square
    np.testing.assert_allclose(track[1::2], np.repeat([[0, 0, 0, 1, 160 / 120]], 15, 0), rtol=1e-6)
    use, cx, cy, hx, hy = track[4]
    x0, y0, x1, y1 = labels.box[2]  # frame 4
    np.testing.assert_allclose([(cx - hx + 1) * 80, (cy - hy + 1) * 60, (cx + hx + 1) * 80, (cy + hy + 1) * 60],
                               [x0, y0, x1, y1], atol=1e-3)


def test_pipeline_outputs_run_with_the_options_given():
    """The bench's path through the run takes run options: a full confidence (none reaches it) withholds every frame,
    which then carries NaN joints (a miss), while the defaults report the skier of the sample clip."""
    from engines.backends import load_backend
    from train.posenet.evaluate import SAMPLE, pipeline_outputs
    from tvstream.api import DEFAULT_MODEL
    from tvstream.pipeline import RunOptions

    backend = load_backend(str(DEFAULT_MODEL), "onnxruntime", threads=1)
    shown, _ = pipeline_outputs(backend, SAMPLE, "ski", RunOptions(max_frames=6))
    none, _ = pipeline_outputs(backend, SAMPLE, "ski", RunOptions(max_frames=6, min_conf=1.0))
    assert len(shown["pose2d"]) == len(none["pose2d"]) == 6
    assert np.isfinite(shown["pose2d"]).all() and np.isnan(none["pose2d"]).all()


def test_pipeline_outputs_can_start_the_run_at_a_frame():
    """Scoring a clip's tail runs the tail (adapt's report): frames before ``first`` are decoded, not run, and
    count as misses; row i stays frame i; ``timing`` counts the frames run and the seconds from the first of them."""
    from engines.backends import load_backend
    from train.posenet.evaluate import SAMPLE, pipeline_outputs
    from tvstream.api import DEFAULT_MODEL
    from tvstream.pipeline import RunOptions

    backend = load_backend(str(DEFAULT_MODEL), "onnxruntime", threads=1)
    timing: dict = {}
    out, size = pipeline_outputs(backend, SAMPLE, "ski", RunOptions(max_frames=3), first=4, timing=timing)
    assert size == (360, 640) and len(out["pose2d"]) == len(out["box"]) == 7
    assert np.isnan(out["pose2d"][:4]).all() and not out["box"][:4].any()
    assert np.isfinite(out["pose2d"][4:]).all()  # the skier, read from the run's first frame on
    assert timing["frames"] == 3 and 0 < timing["run_s"] < 60
    whole: dict = {}
    pipeline_outputs(backend, SAMPLE, "ski", RunOptions(max_frames=2), timing=whole)
    assert whole["frames"] == 2


def _tiny_cache(folder: Path, rows: int, videos: int) -> Path:
    """A built cache of ``rows`` blank rows over ``videos`` videos (what Cache reads; no images to speak of)."""
    from train.posenet.cache import FIELDS

    folder.mkdir(parents=True)
    shapes = {"crops": (rows, 2, 2, 3), "frames": (rows, 2, 2, 3), "joints2d": (rows, 17, 2),
              "joints3d": (rows, 17, 3), "visible": (rows, 17), "box": (rows, 4), "tight": (rows, 2),
              "weight2d": (rows, 17)}
    assert set(shapes) == set(FIELDS)
    for k, shape in shapes.items():
        np.save(folder / f"{k}.npy", np.zeros(shape, np.uint8 if k in ("crops", "frames") else np.float32))
    np.save(folder / "video.npy", np.arange(rows, dtype=np.int32) % videos)
    (folder / "cache.json").write_text('{"side": 2, "small": [2, 2], "frames": %d, "videos": []}' % rows)
    return folder


def test_a_repeated_cache_folder_is_drawn_that_many_times_and_a_wrong_name_is_refused(tmp_path: Path):
    from train.posenet.cache import load_cache
    from train.posenet.fit import FitConfig, repeated_rows, split_rows
    from tvstream.errors import LabelError

    _tiny_cache(tmp_path / "cutouts", rows=6, videos=3)
    _tiny_cache(tmp_path / "world", rows=10, videos=5)
    cache = load_cache(tmp_path)
    assert cache.names == ["cutouts", "world"]
    train, _ = split_rows(cache, val_every=1000)  # nothing held out
    train = train[train != 4]  # as if row 4 were held out
    rows = repeated_rows(cache, train, {"cutouts": 3})
    assert sorted(rows) == sorted([0, 1, 2, 3, 5] * 3 + list(range(6, 16)))
    assert list(repeated_rows(cache, train, {})) == list(train)
    with pytest.raises(LabelError, match="cutout"):
        repeated_rows(cache, train, {"cutout": 2})
    with pytest.raises(ValueError, match="whole numbers"):
        FitConfig(repeat={"cutouts": 0})
    assert FitConfig.from_dict(FitConfig(repeat={"cutouts": 4}).to_dict()).repeat == {"cutouts": 4}


def _exported_matches_torch(net: PoseNet, tmp_path: Path) -> PoseNet:
    """Export ``net``, check ONNX Runtime against the torch graph on a tracked and a detector frame, and return
    the network read back from the file (``train.posenet.from_onnx``)."""
    import onnxruntime as ort

    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.from_onnx import recover

    cfg = net.cfg
    ckpt = save_checkpoint(tmp_path / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}},
                           step=1, model=net)
    meta = export_onnx(ckpt, tmp_path / "m.onnx")
    graph, _ = build_posenet_graph(load_checkpoint(ckpt))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).integers(0, 256, (2, *cfg.frame_size, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [0, 0, 0, 0, 0]], np.float32)
    _onnx_matches_torch(session, meta, graph, frames, track)
    return recover(tmp_path / "m.onnx")[0]


def test_a_head_on_the_blazepose_trunk_exports_and_matches_torch(tmp_path: Path):
    from engines.weight_storage import MIN_ELEMENTS

    torch.manual_seed(0)
    cfg = SIZES["real-lite"]
    net = PoseNet(cfg)
    assert net.head.trunk.channels == 32 and net.head.heat.out_channels == 17
    recovered = _exported_matches_torch(net, tmp_path)  # read back: a later session's warm start
    for name, tensor in net.head.trunk.state_dict().items():  # large weights are stored as float16
        stored = tensor.half().float() if tensor.numel() >= MIN_ELEMENTS else tensor
        assert torch.equal(stored, recovered.head.trunk.state_dict()[name]), name


def test_a_landmark_head_reads_each_joint_as_its_recipe_of_mediapipe_s_landmarks(monkeypatch):
    """``head_read="landmarks"``: a joint's 2D is its ``tvstream.teacher.mapping`` recipe of the regressed landmarks
    (256 px input pixels -> the crop's [-1, 1]), its 3D the same recipe of the world landmarks, its confidence the
    smallest visibility (a logit) of its landmarks times the presence flag; no heatmap logits. Other crop sizes
    and a resnet trunk are refused."""
    from train.posenet import config
    from train.posenet.model import LandmarkPoseHead
    from train.pretrained import mediapipe

    assert config.LANDMARK_CROP == mediapipe.LANDMARK_CROP  # the config checks what the network reads
    head = LandmarkPoseHead("blazepose_lite", 17, presence=True).eval()
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.rand(2, 39, 3, generator=g) * 256, torch.randn(2, 39, 2, generator=g) * 3], -1)
    world, flag = torch.randn(2, 39, 3, generator=g), torch.tensor([[0.5], [-2.0]])
    monkeypatch.setattr(head.trunk, "forward", lambda x: (points, world, flag))
    xy, xyz, conf, logits, presence = head(torch.zeros(2, 3, 256, 256), with_presence=True)
    assert logits is None and torch.equal(presence, flag)
    lhip, hip, head_top = H36M_17.index("lhip"), H36M_17.index("hip"), H36M_17.index("head")
    vis, scale = torch.sigmoid(points[..., 3]), torch.sigmoid(flag)[:, 0]
    torch.testing.assert_close(xy[:, lhip], points[:, 23, :2] / 128 - 1)
    torch.testing.assert_close(xy[:, hip], (points[:, 23, :2] + points[:, 24, :2]) / 256 - 1)
    torch.testing.assert_close(xyz[:, lhip], world[:, 23])
    torch.testing.assert_close(conf[:, lhip], vis[:, 23] * scale)
    torch.testing.assert_close(conf[:, hip], torch.minimum(vis[:, 23], vis[:, 24]) * scale)
    # the head top: ears and eyes, and the mouth corners its recipe subtracts, all read for its confidence
    torch.testing.assert_close(conf[:, head_top], vis[:, [2, 5, 7, 8, 9, 10]].amin(1) * scale)
    ears, eyes, mouth = points[:, [7, 8], :2].mean(1), points[:, [2, 5], :2].mean(1), points[:, [9, 10], :2].mean(1)
    torch.testing.assert_close(xy[:, head_top], (ears + 2 * (eyes - mouth)) / 128 - 1)
    with pytest.raises(ValueError, match="256"):
        LandmarkPoseHead("blazepose_lite", 17).trunk(torch.zeros(1, 3, 192, 192))
    for bad in ({"crop_size": 192}, {"head_trunk": "resnet"}, {"head_read": "maps"}):
        with pytest.raises(ValueError, match="head_read"):
            replace(SIZES["real-full-landmarks"], **bad)
    for bad in ({"landmark_3d": "joints", "head_read": "heatmaps", "crop_size": 192}, {"landmark_3d": "depth"}):
        with pytest.raises(ValueError, match="landmark_3d"):
            replace(SIZES["real-full-landmarks"], **bad)


def test_a_landmark_head_s_own_3d_convolution_starts_as_the_world_landmarks_recipe():
    """``landmark_3d="joints"``: ``LandmarkPoseHead.joints3d`` made from the world landmarks' convolution reads the
    same 3D as the joints' recipes of the world landmarks, the pelvis at 0; the 2D, confidence and flag are the
    world head's; a changed convolution changes the 3D alone."""
    from train.posenet.model import LandmarkPoseHead

    torch.manual_seed(0)
    world = LandmarkPoseHead("blazepose_lite", 17, presence=True).eval()
    own = LandmarkPoseHead("blazepose_lite", 17, presence=True, joints3d=True).eval()
    missing, unexpected = own.load_state_dict(world.state_dict(), strict=False)
    assert missing == ["joints3d.weight", "joints3d.bias"] and unexpected == ["trunk.world.weight", "trunk.world.bias"]
    own.joints3d_from_world(world.trunk.world.weight, world.trunk.world.bias)
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        a, b = world(x, with_presence=True), own(x, with_presence=True)
        torch.testing.assert_close(b[1], a[1] - a[1][:, :1], atol=1e-5, rtol=1e-4)
        assert b[1][:, 0].abs().max() == 0 and a[1].abs().max() > 0.01
        for i in (0, 2, 4):
            torch.testing.assert_close(b[i], a[i])
        own.joints3d.bias[3:6] += torch.tensor([0.1, 0.2, 0.3])  # joint 1 (rhip) moves, nothing else does
        c = own(x)
    torch.testing.assert_close(c[1][:, 1] - b[1][:, 1], torch.tensor([[0.1, 0.2, 0.3]] * 2))
    torch.testing.assert_close(c[1][:, 2:], b[1][:, 2:])
    torch.testing.assert_close(c[0], b[0])


def test_a_landmark_model_exports_and_its_weights_read_back(tmp_path: Path):
    """The whole landmark network (the regression branch, its two last convolutions, the presence branch) in the
    exported graph: ONNX Runtime matches torch, and every weight reads back (float16 where large). With its own
    3D convolution (``landmark_3d="joints"``) that convolution is in the graph and the world landmarks' is not."""
    from engines.weight_storage import MIN_ELEMENTS

    torch.manual_seed(0)
    cfg = replace(SIZES["tiny"], head_trunk="blazepose_lite", head_read="landmarks", crop_size=256, presence=True)
    for landmark_3d, own in (("world", False), ("joints", True)):
        net = PoseNet(replace(cfg, landmark_3d=landmark_3d)).eval()
        (tmp_path / landmark_3d).mkdir()
        recovered = _exported_matches_torch(net, tmp_path / landmark_3d)
        mine, back = net.head.state_dict(), recovered.head.state_dict()
        assert set(mine) == set(back) and "trunk.image.weight" in mine
        assert ("joints3d.weight" in mine, "trunk.world.weight" in mine) == (own, not own)
        for name, tensor in mine.items():
            stored = tensor.half().float() if tensor.numel() >= MIN_ELEMENTS else tensor
            assert torch.equal(stored, back[name]), name


def test_a_landmark_network_takes_the_init_s_detectors_and_is_not_trained(monkeypatch, tiny_cache: Path):
    """``train.posenet.landmarks``: the init's box and person detectors bit for bit, its person view, MediaPipe's
    landmark network as it comes; an init with other detectors, a size that reads heatmaps, and a training run of
    a landmark size are refused."""
    from train.posenet.fit import FitConfig
    from train.posenet.landmarks import landmark_network
    from train.posenet.model import LandmarkPoseHead

    loaded = []
    monkeypatch.setattr(LandmarkPoseHead, "load_pretrained", lambda self, tflite=None: loaded.append(self))
    torch.manual_seed(0)
    start_cfg = replace(SIZES["real-lite-mpdet"], person_view="frame")
    start = PoseNet(start_cfg).state_dict()
    net, cfg = landmark_network("real-lite-landmarks", start, start_cfg)
    assert loaded == [net.head] and cfg.person_view == "frame" and cfg.head_read == "landmarks"
    for name, tensor in net.state_dict().items():
        if name.startswith(("detector.", "person_detector.")):
            assert torch.equal(tensor, start[name]), name
    with pytest.raises(ValueError, match="detectors"):
        landmark_network("real-lite-landmarks", PoseNet(SIZES["full"]).state_dict(), SIZES["full"])
    with pytest.raises(ValueError, match="does not read"):
        landmark_network("real-lite-mpdet", start, start_cfg)
    with pytest.raises(ValueError, match="nothing trains it"):
        FitConfig(model="real-lite-landmarks", cache=str(tiny_cache))


@pytest.mark.skipif(not (ROOT / LANDMARK_TFLITE).is_file(), reason=f"no {LANDMARK_TFLITE} (the teacher's venv)")
def test_mediapipe_s_own_landmarks_find_the_sample_skier_s_joints(monkeypatch):
    """MediaPipe Full's landmark network, read from its file into the committed structure, reads the sample clip's
    skier on a crop 1.25 x his labeled box: PCK@0.2 >= 0.6 on every 10th labeled frame (0.70 measured; MediaPipe Full
    on the whole frame 0.83, random weights ~0)."""
    from tvstream.labels import load_any_labels
    from tvstream.sources import VideoSource

    monkeypatch.setenv("TVSTREAM_BLAZEPOSE_DIR", str((ROOT / LANDMARK_TFLITE).parent))
    cfg = SIZES["real-full-landmarks"]
    net = PoseNet(cfg).eval()
    net.head.load_pretrained()
    sample = ROOT / "examples" / "sample_ski.mp4"
    labels = load_any_labels(sample.with_suffix(".npz"))
    with VideoSource(str(sample), cfg.frame_size) as source:
        fit, frames = source.fit, list(source.frames())
    rows = {int(f): i for i, f in enumerate(labels.frames)}
    pick = [f for f in range(0, len(frames), 10) if f in rows]
    boxes = np.asarray(fit.normalised_boxes(labels.box[[rows[f] for f in pick]]), np.float32)  # centre, half
    x = torch.from_numpy(np.stack([frames[f].image for f in pick])).permute(0, 3, 1, 2).float()
    track = torch.from_numpy(np.concatenate([np.ones((len(pick), 1), np.float32), boxes], 1))
    with torch.no_grad():
        centre, _, scale, xy, *_ = net(x, track, pixel_max=255.0)
    h, w = cfg.frame_size
    joints = ((centre[:, None] + scale[:, None] * xy).numpy() + 1) * [w / 2, h / 2] - 0.5  # working px, as exported
    pred = np.stack([fit.to_source(j) for j in joints])
    score = pck(pred, labels.joints2d[[rows[f] for f in pick]], labels.visible[[rows[f] for f in pick]])
    assert score >= 0.6, score


def test_a_lifter_reads_the_3d_from_the_2d_and_exports(tmp_path: Path):
    """``lifter_width``: the 3D is the lifter's reading of the 2D and confidence: the pelvis at 0, the same for a
    2D moved as a whole (it reads the 2D relative to the pelvis), another for another pose; the exported graph
    matches torch and its weights read back."""
    from train.posenet.model import Lifter

    torch.manual_seed(0)
    lifter = Lifter(17, 32).eval()
    xy, conf = torch.rand(3, 17, 2) * 2 - 1, torch.rand(3, 17)
    with torch.no_grad():
        xyz = lifter(xy, conf)
        assert xyz.shape == (3, 17, 3) and torch.equal(xyz[:, 0], torch.zeros(3, 3))
        torch.testing.assert_close(lifter(xy + torch.tensor([0.3, -0.2]), conf), xyz)
        assert (lifter(xy.flip(1), conf) - xyz).abs().max() > 1e-3
    cfg = replace(SIZES["tiny"], lifter_width=16)
    net = PoseNet(cfg).eval()
    crops = torch.rand(2, 3, cfg.crop_size, cfg.crop_size)
    with torch.no_grad():
        xy, xyz, conf, _ = net.read_crop(crops)
        torch.testing.assert_close(xyz, net.lifter(xy, conf))
    recovered = _exported_matches_torch(net, tmp_path)
    for name, tensor in net.lifter.state_dict().items():
        assert torch.equal(tensor, recovered.lifter.state_dict()[name]), name
    with pytest.raises(ValueError, match="lifter_width"):
        replace(cfg, lifter_width=-1)


def test_the_presence_classifier_scales_every_joint_s_confidence():
    """A head with the trunk's presence branch reports its joints' confidence times the presence: a logit of
    +30 leaves the confidence of the same head without the branch, -30 makes it ~0; the 2D and 3D do not move."""
    torch.manual_seed(0)
    with_flag, plain = PoseNet(SIZES["real-lite"]).eval(), PoseNet(replace(SIZES["real-lite"], presence=False)).eval()
    missing, _ = plain.load_state_dict(with_flag.state_dict(), strict=False)
    assert not missing
    last = with_flag.head.trunk.presence.spec["nodes"][-1]["key"]
    crops = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        want = plain.read_crop(crops)
        for bias, scale in ((30.0, 1.0), (-30.0, 0.0)):
            conv = getattr(with_flag.head.trunk.presence, last)
            conv.weight.zero_()
            conv.bias.fill_(bias)
            xy, xyz, conf, _, flag = with_flag.read_crop(crops, presence=True)
            torch.testing.assert_close(flag, torch.full((2, 1), bias))
            torch.testing.assert_close(conf, want[2] * scale, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(xy, want[0])
            torch.testing.assert_close(xyz, want[1])
    assert plain.read_crop(crops, presence=True)[4] is None
    with pytest.raises(ValueError, match="presence needs a pretrained"):
        replace(SIZES["full"], presence=True)


def test_a_model_from_before_the_presence_classifier_starts_a_confidence_run(tiny_cache: Path, tmp_path: Path,
                                                                              monkeypatch):
    """``--init`` with a checkpoint of the same size without the presence branch: its weights are taken, the
    branch starts as it is (MediaPipe's, in a real run), and a confidence run trains the branch and the confidence
    rows alone."""
    from train.checkpoint import load_checkpoint
    from train.posenet import fit as fit_module
    from train.posenet.fit import FitConfig, fit
    from train.posenet.model import PretrainedPoseHead

    monkeypatch.setattr(PretrainedPoseHead, "load_pretrained", lambda self, tflite=None: None)  # no teacher here
    blaze = replace(SIZES["tiny"], head_trunk="blazepose_lite", crop_size=192, up_channels=8, presence=True)
    monkeypatch.setitem(fit_module.SIZES, "tiny-blaze", blaze)
    monkeypatch.setitem(fit_module.SIZES, "tiny-blaze-old", replace(blaze, presence=False))
    base = FitConfig(model="tiny-blaze-old", cache=str(tiny_cache), steps=1, batch=2, warmup=1, val_every=3,
                     eval_every=100, threads=1)
    fit(base, tmp_path / "old")
    stats = fit(replace(base, model="tiny-blaze", steps=2, part="confidence", empty_crops=2,
                        init=str(tmp_path / "old" / "last.pt")), tmp_path / "new")
    assert stats["presence"] > 0 and "empty" in stats
    old, new = (load_checkpoint(tmp_path / n / "last.pt")["model"] for n in ("old", "new"))
    assert set(new) - set(old) and all(".presence." in k for k in set(new) - set(old))
    k = blaze.joints
    for name, tensor in old.items():
        if name.startswith("head.out."):
            assert torch.equal(tensor[:-k], new[name][:-k]), name
        else:
            assert torch.equal(tensor, new[name]), name
    torch.manual_seed(base.seed)  # as fit builds the model: the branch's weights before training
    start = fit_module.PoseNet(blaze).state_dict()
    trained = [n for n, v in new.items() if ".presence." in n and n.endswith("weight") and not torch.equal(v, start[n])]
    assert len(trained) == sum(n.endswith("weight") for n in new if ".presence." in n)


def test_a_lift_run_trains_the_3d_and_confidence_alone_behind_another_head_s_detectors(tiny_cache: Path,
                                                                                      tmp_path: Path, monkeypatch):
    """``part="lift"`` from a model with another pretrained trunk: both detectors (MediaPipe's person detector too)
    come from the start, the new trunk and its heatmaps stay as built (MediaPipe's, in a real run) bit for bit, and
    only the block and convolution after the trunk (3D location maps, confidence) and the presence classifier
    learn; a resnet head refuses."""
    from train.checkpoint import load_checkpoint
    from train.posenet import fit as fit_module
    from train.posenet.fit import FitConfig, fit
    from train.posenet.model import PretrainedPoseHead
    from train.pretrained.blazepose_detector import BlazePoseDetector

    monkeypatch.setattr(PretrainedPoseHead, "load_pretrained", lambda self, tflite=None: None)  # no teacher here
    monkeypatch.setattr(BlazePoseDetector, "load_tflite", lambda self, tflite=None: None)
    lite = replace(SIZES["tiny"], head_trunk="blazepose_lite", crop_size=192, up_channels=8, presence=True,
                   detector="boxnet+blazepose")
    full = replace(lite, head_trunk="blazepose_full")
    monkeypatch.setitem(fit_module.SIZES, "tiny-lite", lite)
    monkeypatch.setitem(fit_module.SIZES, "tiny-full", full)
    base = FitConfig(model="tiny-lite", cache=str(tiny_cache), steps=1, batch=2, warmup=1, val_every=3,
                     eval_every=100, threads=1)
    fit(base, tmp_path / "lite")
    stats = fit(replace(base, model="tiny-full", steps=3, lr=1e-2, part="lift", init=str(tmp_path / "lite" / "last.pt")),
                tmp_path / "full")
    assert stats["pose3d"] > 0 and "box" not in stats
    start, after = (load_checkpoint(tmp_path / n / "last.pt")["model"] for n in ("lite", "full"))
    torch.manual_seed(base.seed)  # as fit builds the model: the new head before training
    built = fit_module.PoseNet(full).state_dict()
    moved = set()
    for name, tensor in after.items():
        if name.startswith(("detector.", "person_detector.")):
            assert torch.equal(tensor, start[name]), name
        elif name.startswith(("head.up.", "head.out.", "head.trunk.presence.")):
            moved |= {name} if not torch.equal(tensor, built[name]) else set()
        else:
            assert torch.equal(tensor, built[name]), name
    assert {"head.up.0.weight", "head.out.weight", "head.out.bias"} <= moved and any(".presence." in n for n in moved)
    k = full.joints  # every row of the output convolution learns: the 3D location maps as well as the confidence
    rows = (after["head.out.weight"] - built["head.out.weight"]).flatten(1).abs().amax(1)
    assert (rows[:3 * k] > 0).all() and (rows[3 * k:] > 0).all()
    fit(replace(base, model="tiny-full", steps=2, lr=1e-2, part="lift+heat", init=str(tmp_path / "lite" / "last.pt")),
        tmp_path / "heat")  # and the heatmap layer on the trunk's features: the trunk itself stays
    heat = load_checkpoint(tmp_path / "heat" / "last.pt")["model"]
    assert not torch.equal(heat["head.heat.weight"], built["head.heat.weight"])
    assert all(torch.equal(v, built[n]) for n, v in heat.items() if n.startswith("head.trunk.graph."))
    with pytest.raises(ValueError, match="pretrained head_trunk"):
        fit(replace(base, model="tiny", part="lift"), tmp_path / "resnet")
    lifter = replace(full, lifter_width=8)  # a head run trains a lifter with the head; the detectors stay
    monkeypatch.setitem(fit_module.SIZES, "tiny-full-lifter", lifter)
    fit(replace(base, model="tiny-full-lifter", steps=2, lr=1e-2, part="head", init=str(tmp_path / "lite" / "last.pt")),
        tmp_path / "lifter")
    torch.manual_seed(base.seed)
    built, after = fit_module.PoseNet(lifter).state_dict(), load_checkpoint(tmp_path / "lifter" / "last.pt")["model"]
    assert not torch.equal(after["lifter.out.weight"], built["lifter.out.weight"])
    assert all(torch.equal(v, start[n]) for n, v in after.items() if n.startswith(("detector.", "person_detector.")))


def test_the_blazepose_heatmaps_start_as_the_landmarks_each_joint_is_made_of():
    from train.pretrained.mediapipe import heatmap_rows
    from tvstream.teacher.mapping import MP_LANDMARK

    rows = heatmap_rows()
    assert rows.shape == (17, 33) and np.allclose(rows.sum(1), 1) and (rows >= 0).all()
    for name, landmark in MP_LANDMARK.items():
        assert rows[H36M_17.index(name), landmark] == 1.0
    assert rows[H36M_17.index("hip"), [23, 24]].tolist() == [0.5, 0.5]
    head = rows[H36M_17.index("head")]
    assert set(np.flatnonzero(head)) == {2, 5, 7, 8}  # ears and eyes; the recipe's mouth terms (negative) dropped


def test_frame_scale_multiplies_the_frame_and_the_stride_and_keeps_the_weights():
    from dataclasses import replace

    base = SIZES["tiny"]
    twin = base.scaled(2)
    assert twin.frame_size == (2 * base.frame_size[0], 2 * base.frame_size[1])
    assert twin.detector_stride == 2 * base.detector_stride and twin.detector_size == base.detector_size
    assert twin.scaled(1) == base and twin.same_weights(base) and base.same_weights(twin)
    assert not replace(base, width=base.width * 2).same_weights(twin)  # other weights stay other
    with pytest.raises(ValueError, match="frame_scale"):
        replace(base, frame_scale=3)  # 3 does not divide the stride: the box detector's map would move
    net = PoseNet(base)
    PoseNet(twin).load_state_dict(net.state_dict())  # the same modules, strict


def test_the_confidence_tolerance_follows_the_person_s_size_in_a_jittered_crop():
    """A crop twice as loose as the runtime's shows the person at half the size: with ``conf_follows_size`` 1 a
    joint is a hit within half the tolerance there (the confidence learns what a loose crop costs), at 0 within
    0.1 everywhere (the old rule); a torso without labels keeps 0.1."""
    from train.posenet.fit import FitConfig, LossWeights, confidence_tolerance, person_scale

    g = torch.Generator().manual_seed(0)
    n, k = 4, H36M_17.num_joints
    before = (torch.rand(n, k, 2, generator=g) - 0.5) * 0.6
    tight = torch.full((n, 2), 0.4)
    known = torch.ones(n, k, dtype=torch.bool)
    _, runtime, _, _ = pose_crops(torch.zeros(n, 3, 32, 32), before, torch.zeros(n, k, 3), tight, 16, 1.25, NO_AUG,
                                  g, train=False)
    assert torch.allclose(person_scale(runtime, before, tight, 1.25, known), torch.ones(n), atol=1e-5)
    _, loose, _, _ = pose_crops(torch.zeros(n, 3, 32, 32), before, torch.zeros(n, k, 3), tight, 16, 1.25,
                                replace(NO_AUG, scale=(2.0, 2.0), flip_p=1.0, rotate_p=1.0), g, train=True)
    assert torch.allclose(person_scale(loose, before, tight, 1.25, known), torch.full((n,), 0.5), atol=1e-5)
    batch = {"joints2d": before, "tight": tight}
    mcfg = replace(SIZES["tiny"], box_margin=1.25)
    follows = confidence_tolerance(loose, batch, mcfg, LossWeights(conf_follows_size=1.0), known.float(), "cpu")
    assert torch.allclose(follows, torch.full((n, 1), 0.05), atol=1e-6)
    assert confidence_tolerance(loose, batch, mcfg, LossWeights(), known.float(), "cpu") == 0.1
    known[0, H36M_17.index("lhip")] = False
    assert person_scale(loose, before, tight, 1.25, known)[0] == 1.0
    assert FitConfig.from_dict(FitConfig(weights=LossWeights(conf_follows_size=1.0)).to_dict()).weights.conf_follows_size == 1.0


def test_a_label_fraction_draws_that_share_of_the_rows_the_same_for_the_same_seed():
    from train.posenet.fit import FitConfig, labeled_share

    rows = np.arange(100, 1100)
    one = labeled_share(rows, 0.01, seed=3)
    assert len(one) == 10 and list(one) == sorted(one) and set(one) <= set(rows)
    assert list(labeled_share(rows, 0.01, seed=3)) == list(one)  # the A/B's two starts read the same labels
    assert list(labeled_share(rows, 0.01, seed=4)) != list(one)
    assert len(set(labeled_share(rows, 0.1, seed=3))) == 100
    assert len(labeled_share(rows, 0.0001, seed=0)) == 1  # at least one row
    assert labeled_share(rows, 1.0, seed=0) is rows
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="label_fraction"):
            FitConfig(label_fraction=bad)


def _ssl_checkpoint(path: Path, encoder_width: int) -> torch.nn.Module:
    """A freshly initialised SSL model of the tiny preset with ``encoder_width``, saved as ``train ssl`` saves."""
    from train.checkpoint import save_checkpoint
    from train.models.config import MODEL_PRESETS
    from train.models.ssl_model import SSLModel

    mcfg = replace(MODEL_PRESETS["tiny"], encoder_width=encoder_width)
    torch.manual_seed(7)
    model = SSLModel(mcfg)
    save_checkpoint(path, config={"variant": "Ours"}, step=5, model=model, extra={"model_config": mcfg.to_dict()})
    return model


def test_init_trunk_starts_the_head_from_the_self_supervised_encoder_and_refuses_what_does_not_fit(
        tiny_cache: Path, tmp_path: Path):
    from train.checkpoint import load_checkpoint
    from train.posenet.config import SIZES
    from train.posenet.fit import FitConfig, fit
    from train.posenet.ssl_init import load_ssl_trunk

    ssl = _ssl_checkpoint(tmp_path / "ssl" / "last.pt", encoder_width=SIZES["tiny"].width)
    encoder = ssl.encoder.trunk
    net = PoseNet(SIZES["tiny"])
    assert load_ssl_trunk(net.head, tmp_path / "ssl") == len(net.head.trunk.state_dict())  # nothing left random
    # the first convolution on the pose network's input equals the encoder's on its own input, up to a constant
    # per channel (the normalisations' offsets, which its batch norm takes out)
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        diff = net.head.trunk.stem[0](net.normalise(image)) - encoder.stem[0](ssl._norm(image))
    inner = diff[:, :, 2:-2, 2:-2]  # away from the zero padding
    assert float(inner.std(dim=(0, 2, 3)).max()) < 1e-4 < float(inner.mean(dim=(0, 2, 3)).abs().max())
    pairs = {"s1.0.conv1.weight": "stages.0.0.conv1.weight",
             "s3.1.conv2.weight": "stages.2.1.conv2.weight", "s2.0.downsample.1.running_var":
             "stages.1.0.downsample.1.running_var"}
    head = net.head.trunk.state_dict()
    theirs = encoder.state_dict()
    for mine, other in pairs.items():
        assert torch.equal(head[mine], theirs[other]), mine
    # a run started so: its first checkpoint's trunk moved from the encoder's, not from random weights
    cfg = FitConfig(model="tiny", cache=str(tiny_cache), steps=1, batch=4, warmup=1, val_every=3, threads=1,
                    part="head", lr=1e-9, weight_decay=0.0, init_trunk=str(tmp_path / "ssl"))
    fit(cfg, tmp_path / "run")
    after = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    assert torch.allclose(after["head.trunk.s1.0.conv1.weight"], theirs["stages.0.0.conv1.weight"], atol=1e-6)
    _ssl_checkpoint(tmp_path / "wide.pt", encoder_width=2 * SIZES["tiny"].width)
    with pytest.raises(CheckpointError, match="width 8"):
        load_ssl_trunk(PoseNet(SIZES["tiny"]).head, tmp_path / "wide.pt")
    with pytest.raises(CheckpointError, match="resnet"):
        load_ssl_trunk(PoseNet(SIZES["real-lite"]).head, tmp_path / "ssl")
