"""The training world's shard table: size, bodies, seeds, and the bench set kept apart."""

import json
from dataclasses import asdict
from pathlib import Path

from train.synth.world import shard_frames, shards

PLATES = Path("data/plates")  # only named: the table does not read the plates


def test_world_holds_300_bodies_and_200k_labeled_frames():
    table = shards("train", PLATES)
    assert sum(cfg.subjects for cfg in table.values()) >= 300
    assert sum(shard_frames(cfg) for cfg in table.values()) >= 200_000


def test_varied_shards_frame_one_camera_per_take_on_both_kinds_of_background():
    table = shards("train", PLATES)
    varied = {name: cfg for name, cfg in table.items() if cfg.scenario == "varied"}
    assert len(varied) == 12 and {cfg.backgrounds is None for cfg in varied.values()} == {True, False}
    assert all(shard_frames(cfg) == cfg.subjects * cfg.sequences * 75 for cfg in varied.values())
    assert sum(shard_frames(cfg) for cfg in varied.values()) == 108_000


def test_bench_seeds_and_photos_are_never_trained_on():
    train, bench = shards("train", PLATES), shards("bench", PLATES)
    assert "bench_varied_photo" in bench and bench["bench_varied_photo"].scenario == "varied"
    assert bench["bench_varied_photo"].backgrounds == str(PLATES / "bench")
    train_seeds = [cfg.seed for cfg in train.values()]
    assert len(set(train_seeds)) == len(train_seeds)
    assert not {cfg.seed for cfg in bench.values()} & set(train_seeds)
    assert all(cfg.backgrounds in (None, str(PLATES / "train")) for cfg in train.values())


def test_photo_shards_are_left_out_without_plates():
    assert all(cfg.backgrounds is None for cfg in shards("train", None).values())
    assert "varied_0" in shards("train", None) and "varied_photo_0" not in shards("train", None)


def test_photo_plates_are_windows_of_the_photo_at_the_plate_size():
    import numpy as np

    from train.synth.photo_plates import cut_plates

    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:, :200] = 255  # left half white: every window shows some of one or both halves
    plates = cut_plates(photo, 5, (64, 36), np.random.default_rng(0))
    assert [p.shape for p in plates] == [(36, 64, 3)] * 5
    assert all(p.dtype == np.uint8 for p in plates)
    assert len({round(float(p.mean()), 1) for p in plates}) > 1  # windows at random places and scales differ


def test_a_shard_with_a_missing_or_empty_file_is_rendered_again(tmp_path, capsys):
    from train.synth.world import is_done
    from tvstream.manifest import VideoEntry, write_manifest

    shard = tmp_path / "ski_0"
    shard.mkdir()
    assert not is_done(shard)  # no manifest yet: stopped before the end
    (shard / "a.mp4").write_bytes(b"video")
    (shard / "a.npz").write_bytes(b"labels")
    write_manifest(shard / "manifest.json", [VideoEntry(video=shard / "a.mp4", labels=shard / "a.npz", subject="S01")])
    assert is_done(shard)
    (shard / "a.mp4").write_bytes(b"")
    assert not is_done(shard) and "a.mp4 is missing or empty" in capsys.readouterr().out
    from train.synth.generate import SynthConfig

    cfg = SynthConfig(seed=5)
    assert not is_done(shard, cfg) and "another recipe" in capsys.readouterr().out  # no synth_config.json
    (shard / "a.mp4").write_bytes(b"video")
    (shard / "synth_config.json").write_text(json.dumps(asdict(cfg)))
    assert is_done(shard, cfg) and not is_done(shard, SynthConfig(seed=6))
    older = {k: v for k, v in asdict(cfg).items() if k != "loose"}  # rendered before SynthConfig.loose existed
    (shard / "synth_config.json").write_text(json.dumps(older))
    assert is_done(shard, cfg) and not is_done(shard, SynthConfig(seed=5, loose=0.05))
    (shard / "manifest.json").write_text("{not json")
    assert not is_done(shard) and "unreadable manifest" in capsys.readouterr().out


def test_synth_config_refuses_a_backwards_quality_range():
    import pytest

    from train.synth.generate import SynthConfig

    with pytest.raises(ValueError, match="crf"):
        SynthConfig(crf=(30, 20))
    assert shards("train", PLATES)["ski_0"].crf == (16, 34)


def test_the_world_summary_lists_the_shards_earlier_calls_rendered(tmp_path):
    """`world train --shards A` into a world that already holds B describes both (it listed A alone)."""
    from train.synth.world import finished_shards, shards

    table = shards("train", None)
    for name in ("ski_0", "dive_1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("[]")
    (tmp_path / "studio_0.partial").mkdir()  # stopped half-way: not a shard yet
    (tmp_path / "studio_0.partial" / "manifest.json").write_text("[]")
    assert list(finished_shards(tmp_path, table)) == ["ski_0", "dive_1"]  # the table's order
    assert finished_shards(tmp_path, table)["dive_1"] is table["dive_1"]
