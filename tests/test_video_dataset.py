import json
import logging
import shutil

import numpy as np
import pytest

from train.data import SamplingConfig, VideoDataset
from train.data.pattern_video import background_level, read_frame_code, square_box, write_pattern_video
from tvstream.errors import LabelError, SourceError
from tvstream.labels import HANDLABELS_SCHEMA
from tvstream.skeleton import JOINT_NAMES

TEMPORAL = SamplingConfig(near=5, far=40, far_max=60)


def codes(frames):
    return [read_frame_code(f) for f in frames]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_temporal_items_hold_the_frames_they_name(clip_dir, cache_dir):
    ds = VideoDataset(clip_dir, size=(64, 64), sampling=TEMPORAL, cache_dir=cache_dir)
    assert [e.video.name for e in ds.entries] == ["a.mp4", "b.mp4"] and ds.lengths == [300, 260]
    assert len(ds) == 300 + 260  # every frame has a far frame on one side
    for i in np.random.default_rng(0).choice(len(ds), 40, replace=False):
        item = ds[int(i)]
        assert item["frames"].shape == (4, 64, 64, 3) and item["frames"].dtype == np.uint8
        assert codes(item["frames"]) == list(item["frame_index"])
        d = item["distance"]
        assert d[0] == 0 and 1 <= d[1] <= 5 and 40 <= d[2] <= 60 and d[1] < d[3] < d[2]


def test_cache_equals_direct_decoding(clip_dir, cache_dir):
    cached = VideoDataset(clip_dir, size=(48, 64), sampling=TEMPORAL, cache_dir=cache_dir, seed=3)
    direct = VideoDataset(clip_dir, size=(48, 64), sampling=TEMPORAL, seed=3)
    for i in (0, 17, 299, 300, 559):
        a, b = cached[i], direct[i]
        np.testing.assert_array_equal(a["frame_index"], b["frame_index"])
        np.testing.assert_array_equal(a["frames"], b["frames"])


def test_items_are_deterministic_for_a_seed_and_vary_by_epoch(clip_dir, cache_dir):
    a = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, cache_dir=cache_dir, seed=5)
    b = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, cache_dir=cache_dir, seed=5)
    first = [a[i]["frame_index"] for i in range(50)]
    np.testing.assert_array_equal(first, [b[i]["frame_index"] for i in range(50)])
    a.set_epoch(1)
    assert not np.array_equal(first, [a[i]["frame_index"] for i in range(50)])
    c = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, cache_dir=cache_dir, seed=6)
    assert not np.array_equal(first, [c[i]["frame_index"] for i in range(50)])


def test_dataloader_workers_give_the_same_batches(clip_dir, cache_dir):
    torch = pytest.importorskip("torch")
    from train.data.loader import make_loader

    ds = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, cache_dir=cache_dir, seed=1)
    subset = torch.utils.data.Subset(ds, range(0, 560, 7))
    single = list(make_loader(subset, batch_size=16, workers=0, shuffle=False, drop_last=False))
    multi = list(make_loader(subset, batch_size=16, workers=2, shuffle=False, drop_last=False))
    assert len(single) == len(multi) == 5
    for x, y in zip(single, multi):
        assert x["frames"].shape[1:] == (4, 32, 32, 3) and x["frames"].dtype == torch.uint8
        assert torch.equal(x["frame_index"], y["frame_index"]) and torch.equal(x["frames"], y["frames"])


def test_direct_decoding_works_in_dataloader_workers(clip_dir):
    torch = pytest.importorskip("torch")
    from train.data.loader import make_loader

    ds = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, seed=1)
    ds[0]  # the parent has decoded too: its decoders must not break the workers
    loader = make_loader(torch.utils.data.Subset(ds, range(0, 40, 5)), batch_size=8, workers=2, shuffle=False)
    batch = next(iter(loader))
    for frames, index in zip(batch["frames"].numpy(), batch["frame_index"].numpy()):
        assert codes(frames) == list(index)


def test_loader_shuffle_is_seeded(clip_dir, cache_dir):
    pytest.importorskip("torch")
    from train.data.loader import make_loader

    ds = VideoDataset(clip_dir, size=(32, 32), sampling=TEMPORAL, cache_dir=cache_dir)
    first = [next(iter(make_loader(ds, batch_size=8, workers=0, seed=s)))["frame_index"] for s in (4, 4, 5)]
    assert (first[0] == first[1]).all() and not (first[0] == first[2]).all()


def test_multiview_items_show_one_instant_from_distinct_cameras(rig_dir, cache_dir):
    ds = VideoDataset(rig_dir, size=(60, 80), cache_dir=cache_dir,
                      sampling=SamplingConfig(mode="multiview", views=2, near=3, far=20))
    assert len(ds.groups) == 1 and len(ds) == 240
    cams_seen = set()
    for i in range(0, 240, 9):
        item = ds[i]
        frames, index, video = item["frames"], item["frame_index"], item["video"]
        assert frames.shape == (3, 60, 80, 3)
        assert index[0] == index[1] == i and abs(index[2] - i) == 20  # two views at t, far frame of view 0
        assert codes(frames) == list(index)
        assert video[0] != video[1] and video[2] == video[0]
        for f, v in zip(frames, video):  # the background says which camera rendered the frame
            cam = int(ds.entries[v].camera[1:])
            assert abs(int(f[-2, 2].mean()) - background_level(cam)) <= 3
        assert np.isfinite(item["R"]).all() and item["labeled"].all()
        cams_seen.update(video.tolist())
    assert cams_seen == {0, 1, 2}


def test_multiview_needs_enough_cameras(rig_dir, caplog):
    with pytest.raises(SourceError, match="no multiview samples"):
        VideoDataset(rig_dir, size=(32, 32), sampling=SamplingConfig(mode="multiview", views=4, near=3, far=20))
    assert "has 3 camera(s), multiview needs 4" in caplog.text


def test_labels_are_scaled_to_the_training_size(rig_dir, cache_dir):
    ds = VideoDataset(rig_dir, size=(96, 128), cache_dir=cache_dir, sampling=SamplingConfig(mode="frame"))
    item = ds[37]
    assert item["labeled"].all() and item["frame_index"][0] == 37
    scale = np.array([128 / 160, 96 / 120] * 2)
    np.testing.assert_allclose(item["box"][0], square_box(37, 160, 120) * scale, rtol=1e-5)
    # the white square found in the decoded frame sits where the scaled box says
    frame = item["frames"][0].mean(axis=-1)
    frame[: int(0.16 * 96)] = 0  # ignore the code row
    ys, xs = np.nonzero(frame > 200)
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], item["box"][0], atol=1.5)
    assert item["joints2d"].shape == (1, 17, 2) and item["joints3d"].shape == (1, 17, 3)
    np.testing.assert_allclose(item["K"][0][0, 0], 1.2 * 160 * 128 / 160, rtol=1e-6)


def test_frame_mode_can_use_only_hand_labeled_frames(tmp_path):
    write_pattern_video(tmp_path / "dive.mp4", 60)
    uv = np.tile([[50.0, 60.0]], (17, 1)).tolist()
    (tmp_path / "dive.json").write_text(json.dumps({
        "schema": HANDLABELS_SCHEMA, "joints": list(JOINT_NAMES),
        "frames": [{"frame": f, "joints2d": uv} for f in (40, 5, 17)]}))
    ds = VideoDataset(tmp_path, size=(60, 80), sampling=SamplingConfig(mode="frame"), labeled_only=True)
    assert len(ds) == 3
    items = [ds[i] for i in range(3)]
    assert [int(it["frame_index"][0]) for it in items] == [5, 17, 40]
    assert all(it["labeled"][0] and np.isnan(it["joints3d"]).all() for it in items)
    np.testing.assert_allclose(items[0]["joints2d"][0, 0], [25.0, 30.0])
    everything = VideoDataset(tmp_path, size=(60, 80), sampling=SamplingConfig(mode="frame", stride=2))
    assert len(everything) == 30 and int(everything[1]["labeled"][0]) == 0


def test_gravity_items_are_four_equidistant_forward_frames(clip_dir, cache_dir):
    ds = VideoDataset(clip_dir, size=(32, 32), cache_dir=cache_dir,
                      sampling=SamplingConfig(mode="gravity", gravity_step=3))
    assert len(ds) == (300 - 9) + (260 - 9)
    item = ds[100]
    np.testing.assert_array_equal(item["frame_index"], [100, 103, 106, 109])
    assert codes(item["frames"]) == [100, 103, 106, 109]


def test_corrupt_video_in_a_folder_is_skipped_with_a_warning(tmp_path, clip_dir, caplog):
    shutil.copy(clip_dir / "s1" / "a.mp4", tmp_path / "good.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 4000)
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset(tmp_path, size=(32, 32), sampling=TEMPORAL)
    assert [e.video.name for e in ds.entries] == ["good.mp4"]
    assert [p.name for p, _ in ds.skipped] == ["broken.mp4"]
    assert "skipping" in caplog.text and "broken.mp4" in caplog.text
    assert codes(ds[3]["frames"]) == list(ds[3]["frame_index"])


def test_folder_of_only_corrupt_videos_is_an_error(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"junk")
    with pytest.raises(SourceError, match="no readable videos"):
        VideoDataset(tmp_path)


def test_bad_label_file_stops_the_dataset_naming_the_field(tmp_path, clip_dir):
    shutil.copy(clip_dir / "s1" / "a.mp4", tmp_path / "a.mp4")
    np.savez(tmp_path / "a.npz", joints3d=np.zeros((3, 17, 3)))
    with pytest.raises(LabelError, match="missing field 'joints2d'"):
        VideoDataset(tmp_path, size=(32, 32), sampling=TEMPORAL)


def test_videos_too_short_for_the_far_frame_give_a_clear_error(clip_dir):
    with pytest.raises(SourceError, match="sampling needs more than 400"):
        VideoDataset(clip_dir, size=(32, 32), sampling=SamplingConfig(near=10, far=400))
