import numpy as np
import pytest

from tvstream.smoothing import OneEuroFilter


def test_a_constant_pose_passes_unchanged():
    f = OneEuroFilter()
    pose = np.arange(51, dtype=float).reshape(17, 3)
    for i in range(20):
        np.testing.assert_allclose(f(pose, i / 25), pose)


def test_jitter_is_reduced_and_a_fast_move_is_followed():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.007)
    truth = np.zeros(100)
    noisy = truth + rng.normal(0, 10, 100)  # 10 mm jitter on a still joint
    out = np.array([f(np.array([v]), i / 25)[0] for i, v in enumerate(noisy)])
    assert out[20:].std() < 0.5 * noisy[20:].std()
    f.reset()
    ramp = np.linspace(0, 2000, 50)  # 2 m in 2 s: a fast limb
    followed = np.array([f(np.array([v]), i / 25)[0] for i, v in enumerate(ramp)])
    assert abs(followed[-1] - ramp[-1]) < 100  # lag under 10 cm at 1 m/s


def test_first_alpha_matches_the_formula():
    # dt = 0.04 s, still: cutoff = 1 Hz -> tau = 1/(2 pi), alpha = 1 / (1 + tau/dt) = 0.2008
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    f(np.array([0.0]), 0.0)
    out = f(np.array([1.0]), 0.04)
    assert out[0] == pytest.approx(1 / (1 + 1 / (2 * np.pi * 0.04)), rel=1e-9)


def test_a_time_going_backwards_restarts_the_filter():
    f = OneEuroFilter()
    f(np.array([0.0]), 1.0)
    np.testing.assert_allclose(f(np.array([5.0]), 0.5), [5.0])
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


def test_gravity_tracker_follows_a_falling_box_better_than_the_detections():
    from tvstream.tracking import GravityBoxTracker

    rng = np.random.default_rng(0)
    fps, g_px = 50.0, 900.0  # pixels/s^2 on screen
    t = np.arange(60) / fps
    y = 100 + 50 * t + 0.5 * g_px * t**2  # y grows downwards: falling
    x = 300 - 20 * t
    truth = np.stack([x - 15, y - 30, x + 15, y + 30], 1)
    noisy = truth + rng.normal(0, 4, truth.shape)
    tracker = GravityBoxTracker()
    tracked = np.stack([tracker(b, ti) for b, ti in zip(noisy, t)])
    raw_err = np.abs(noisy[20:] - truth[20:]).mean()  # once the window is full
    trk_err = np.abs(tracked[20:] - truth[20:]).mean()
    assert trk_err < 0.6 * raw_err, (trk_err, raw_err)


def test_gravity_tracker_restarts_after_a_gap():
    from tvstream.tracking import GravityBoxTracker

    tracker = GravityBoxTracker(max_gap=0.5)
    for i in range(6):
        tracker(np.array([0.0, 0, 10, 10]) + i, i * 0.02)
    box = np.array([500.0, 500, 520, 540])
    np.testing.assert_allclose(tracker(box, 2.0), box)  # a new dive: the old track does not leak in
