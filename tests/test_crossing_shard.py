"""The tune's crossing shard (train/synth/crossing.py): which frames are labeled (the passer-by inside the athlete's
crop, on hand-made joints), and a small rendered shard the tune's crop builder reads."""

import json

import numpy as np
import pytest

from train.synth.crossing import SHARD_SCENARIO, overlapping, render_shard
from tvstream.labels import VideoLabels, load_labels

K = 17


def test_only_frames_with_a_joint_of_the_passer_by_inside_the_athlete_s_crop_are_kept():
    # the athlete's box 100 x 200 px centred at (300, 200): its crop at margin 1.25 is a 250 px square,
    # x in [175, 425], y in [75, 325]
    box = np.tile(np.float32([250, 100, 350, 300]), (4, 1))
    labels = VideoLabels(frames=np.array([0, 1, 2, 3]), joints3d=np.zeros((4, K, 3), np.float32),
                         joints2d=np.zeros((4, K, 2), np.float32), box=box, visible=np.ones((4, K), bool))
    passer = np.full((5, K, 2), np.nan, np.float32)  # frame 4 is not labeled; frame 0 has no passer-by
    passer[1] = [430.0, 200.0]  # every joint 5 px right of the crop
    passer[2] = [430.0, 200.0]
    passer[2, 3] = [424.0, 320.0]  # one joint just inside the corner
    passer[3] = [100.0, 200.0]
    passer[3, :2] = [[176.0, 76.0], [np.nan, np.nan]]  # one inside, one unknown
    passer[4] = [300.0, 200.0]
    assert overlapping(labels, passer, 1.25).tolist() == [False, False, True, True]
    assert overlapping(labels, passer, 1.3).tolist() == [False, True, True, True]  # 260 px: x up to 430
    labels.box[2] = np.nan  # an unlabeled box is never kept
    assert overlapping(labels, passer, 1.3).tolist() == [False, True, False, True]


def test_a_rendered_shard_labels_its_crossings_and_names_the_varied_venue(tmp_path):
    pytest.importorskip("anny")
    from tvstream.manifest import discover

    files = render_shard(tmp_path, "behind", range(50000, 50002), width=192, height=108)
    entries = discover(tmp_path)
    assert [e.sequence for e in entries] == ["behind_50000", "behind_50001"] and len(files) == 2
    recipe = json.loads((tmp_path / "synth_config.json").read_text())
    assert recipe["scenario"] == SHARD_SCENARIO == "varied" and recipe["seeds"] == [50000, 50002] and \
        recipe["size"] == [192, 108]
    whole, kept = load_labels(tmp_path / "behind_50000.npz"), load_labels(files[0])
    passer = np.load(tmp_path / "behind_50000_passer.npy")
    assert 20 < len(kept) < len(whole) == 125  # the passer-by passes in the middle of the 5 s clip
    assert np.array_equal(kept.frames, whole.frames[overlapping(whole, passer, 1.25)])
    assert np.array_equal(kept.joints2d, whole.joints2d[kept.frames])
    mtime = (tmp_path / "behind_50000.mp4").stat().st_mtime_ns
    render_shard(tmp_path, "behind", range(50000, 50002), width=192, height=108)  # again: nothing rendered twice
    assert (tmp_path / "behind_50000.mp4").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="passer-by"):
        render_shard(tmp_path, "wall", range(1))
