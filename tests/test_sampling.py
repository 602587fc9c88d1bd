import numpy as np
import pytest

from train.data.sampling import SamplingConfig, reference_frames, sample_gravity, sample_temporal, sample_views


def test_temporal_tuple_distances_follow_the_config():
    cfg = SamplingConfig(near=5, far=40, far_max=60)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        ref = int(rng.integers(0, 200))
        if ref + 40 >= 200 and ref - 40 < 0:
            continue
        t = sample_temporal(rng, ref, 200, cfg)
        d = t - ref
        assert t[0] == ref and (t >= 0).all() and (t < 200).all()
        assert len(set(np.sign(d[1:]))) == 1  # near, far, intermediate on one side
        near, far, mid = np.abs(d[1:])
        assert near >= 1 and near <= 5 and 40 <= far <= 60 and near < mid < far


def test_temporal_sampling_covers_both_sides_and_the_whole_range():
    cfg = SamplingConfig(near=3, far=20)
    rng = np.random.default_rng(1)
    tuples = np.array([sample_temporal(rng, 50, 100, cfg) for _ in range(500)])
    d = tuples - 50
    assert set(np.abs(d[:, 1])) == {1, 2, 3}
    assert set(np.abs(d[:, 2])) == {20}  # far_max None: exactly `far`
    assert (d[:, 2] > 0).any() and (d[:, 2] < 0).any()
    assert set(np.abs(d[:, 3])) == set(range(2, 20))


def test_far_frame_goes_to_the_side_that_fits():
    cfg = SamplingConfig(near=3, far=20)
    rng = np.random.default_rng(2)
    assert all(sample_temporal(rng, 5, 30, cfg)[2] == 25 for _ in range(50))
    assert all(sample_temporal(rng, 27, 30, cfg)[2] == 7 for _ in range(50))
    with pytest.raises(ValueError, match="no frame 20 away"):
        sample_temporal(rng, 10, 25, cfg)


def test_same_seed_gives_same_tuples():
    cfg = SamplingConfig(near=10, far=200, far_max=300)
    a = [sample_temporal(np.random.default_rng((7, 0, i)), 300, 700, cfg) for i in range(20)]
    b = [sample_temporal(np.random.default_rng((7, 0, i)), 300, 700, cfg) for i in range(20)]
    c = [sample_temporal(np.random.default_rng((7, 1, i)), 300, 700, cfg) for i in range(20)]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reference_frames_need_room_for_the_far_frame():
    cfg = SamplingConfig(near=3, far=20, stride=5)
    np.testing.assert_array_equal(reference_frames(30, cfg), [0, 5, 20, 25])
    assert len(reference_frames(20, cfg)) == 0
    grav = SamplingConfig(mode="gravity", gravity_step=3)
    np.testing.assert_array_equal(reference_frames(12, grav), [0, 1, 2])


def test_gravity_frames_are_equidistant_and_forward():
    cfg = SamplingConfig(mode="gravity", gravity_step=3)
    np.testing.assert_array_equal(sample_gravity(np.random.default_rng(), 4, 20, cfg), [4, 7, 10, 13])
    with pytest.raises(ValueError):
        sample_gravity(np.random.default_rng(), 10, 19, cfg)


def test_views_are_distinct_cameras():
    cfg = SamplingConfig(mode="multiview", views=3)
    rng = np.random.default_rng(0)
    draws = [tuple(sample_views(rng, 4, cfg)) for _ in range(200)]
    assert all(len(set(d)) == 3 for d in draws)
    assert {d[0] for d in draws} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="need 3 cameras"):
        sample_views(rng, 2, cfg)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "pairs"}, "mode must be one of"),
    ({"near": 0}, "near must be >= 1"),
    ({"near": 10, "far": 11}, "far must be >= 12"),
    ({"far": 50, "far_max": 40}, "far_max must be >= far=50"),
    ({"mode": "multiview", "views": 1}, "views >= 2"),
])
def test_bad_sampling_config_names_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)


def test_frames_per_item_and_dmax():
    assert SamplingConfig().frames_per_item == 4
    assert SamplingConfig(intermediate=False, far=11).frames_per_item == 3
    assert SamplingConfig(mode="multiview", views=3).frames_per_item == 4
    assert SamplingConfig(far=40).dmax == 40
