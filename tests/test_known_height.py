"""benchmarks/known_height.py's bookkeeping: the subject's height from its labels, the scores on hand numbers."""

from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.known_height import score, summary, true_height_m
from test_stature import skeleton
from tvstream.stature import STATURE_PER_CHAIN


def test_the_subjects_height_is_its_labeled_chain_times_the_ratio():
    frames = np.stack([skeleton(), skeleton() * 1.1, skeleton(), np.full((17, 3), np.nan)])  # median chain 1450
    assert true_height_m(frames) == pytest.approx(1450 * STATURE_PER_CHAIN / 1000)


def test_scores_count_reported_frames_and_the_root_as_a_share_of_the_distance():
    truth = skeleton() + [0.0, 0.0, 10000.0]  # the pelvis 10 m away
    labels = SimpleNamespace(frames=np.array([0, 1, 2]), joints3d=np.stack([truth] * 3))
    pose3d = np.stack([skeleton(), skeleton() + 10.0, np.full((17, 3), np.nan)])  # frame 2 not reported
    root = np.array([[0.0, 0.0, 10500.0], [0.0, 0.0, 9800.0], [np.nan] * 3])
    parts = score({"pose3d": pose3d, "root": root}, labels, rooted=True)
    np.testing.assert_allclose(parts["mpjpe"], [0.0, 0.0])  # root-relative: a shift is no error
    np.testing.assert_allclose(parts["root_share"], [0.05, 0.02])
    row = summary([parts])
    assert row["frames"] == 2 and row["root_median_pct"] == pytest.approx(3.5)
    assert np.isnan(summary([score({"pose3d": pose3d, "root": root}, labels, rooted=False)])["root_median_pct"])
