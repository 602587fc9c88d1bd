"""Cameras of the synthetic world: roll, fields of view and the varied per-take framing."""

import numpy as np
import pytest

from train.synth.cameras import VariedRig, make_camera, varied_cameras

# a standing H36M-like skeleton (17 joints, metres): pelvis, legs, spine, head, arms
STAND = np.array([[0, 0, .95], [-.1, 0, .93], [-.1, 0, .5], [-.1, 0, .08], [.1, 0, .93], [.1, 0, .5], [.1, 0, .08],
                  [0, 0, 1.2], [0, 0, 1.45], [0, 0, 1.55], [0, 0, 1.68], [.18, 0, 1.42], [.2, 0, 1.15], [.2, 0, .9],
                  [-.18, 0, 1.42], [-.2, 0, 1.15], [-.2, 0, .9]])


def _walk(frames: int = 75) -> np.ndarray:
    """A skeleton walking 3 m along x over ``frames`` frames: ``(T, 17, 3)``."""
    return STAND[None] + np.linspace(0, 3, frames)[:, None, None] * np.array([1.0, 0, 0])


def _draws(n: int = 300, width: int = 320, height: int = 180) -> list[list]:
    rng = np.random.default_rng(0)
    return [varied_cameras(VariedRig(), width, height, _walk(), rng) for _ in range(n)]


@pytest.fixture(scope="module")
def draws():
    return _draws()


def test_roll_turns_the_image_about_the_optical_axis():
    level = make_camera(160, 90, 60, eye=[5, 0, 1], target=[0, 0, 1])
    rolled = make_camera(160, 90, 60, eye=[5, 0, 1], target=[0, 0, 1], roll_deg=10)
    assert level.roll_deg == pytest.approx(0, abs=1e-9) and rolled.roll_deg == pytest.approx(10)
    np.testing.assert_allclose(rolled.project(np.array([0, 0, 1.0])), [79.5, 44.5], atol=1e-9)  # centre stays
    up = rolled.project(np.array([0, 0, 2.0])) - [79.5, 44.5]
    assert np.degrees(np.arctan2(-up[0], -up[1])) == pytest.approx(10, abs=0.5)  # world up leans left by 10


def test_varied_cameras_span_20_to_90_degrees_of_vertical_field_of_view(draws):
    vfov = np.array([c.vfov_deg for cams in draws for c in cams])
    assert vfov.min() >= 20 - 1e-6 and vfov.max() <= 90 + 1e-6
    first = np.array([cams[0].vfov_deg for cams in draws])
    assert first.min() < 25 and first.max() > 85 and 45 < np.median(first) < 65


def test_varied_framing_spans_small_to_frame_filling_athletes(draws):
    fill = []
    for cams in draws:
        uv = cams[0].project(_walk()[0])
        fill.append((uv[:, 1].max() - uv[:, 1].min()) / cams[0].height)
    fill = np.array(fill)  # joint box height / frame height (the body's head top and soles add ~10%)
    assert np.quantile(fill, 0.05) < 0.15 and np.quantile(fill, 0.95) > 0.75
    assert 0.35 < np.median(fill) < 0.65


def test_some_varied_takes_cut_the_athlete_at_a_frame_edge(draws):
    cut = []
    for cams in draws:
        uv = cams[0].project(_walk()[0])
        outside = (uv[:, 0] < 0) | (uv[:, 0] >= 320) | (uv[:, 1] < 0) | (uv[:, 1] >= 180)
        cut.append(outside.any())
    assert 0.08 < np.mean(cut) < 0.35


def test_varied_cameras_are_rolled_and_pan_and_zoom_over_a_take(draws):
    roll = np.array([cams[0].roll_deg for cams in draws])
    assert np.mean(np.abs(roll) > 1) > 0.5 and np.abs(roll).max() > 10 and np.abs(roll).max() <= 15 + 1e-6
    assert all(c.roll_deg == pytest.approx(cams[0].roll_deg) for cams in draws[:20] for c in cams)
    pan = np.array([np.degrees(np.arccos(np.clip(cams[0].R[2] @ cams[-1].R[2], -1, 1))) for cams in draws])
    zoom = np.array([cams[-1].vfov_deg / cams[0].vfov_deg for cams in draws])
    assert np.median(pan) > 2 and np.quantile(zoom, 0.1) < 0.85 and np.quantile(zoom, 0.9) > 1.15
    # the camera follows: the athlete's pelvis stays in the frame at the end of most uncut takes
    uv_end = np.array([cams[-1].project(_walk()[-1][0]) for cams in draws])
    assert np.mean((uv_end[:, 0] > 0) & (uv_end[:, 0] < 320)) > 0.8


def test_varied_cameras_stay_out_of_the_athletes_way(draws):
    path = _walk()[:, 0]
    for cams in draws:
        eye = cams[0].center
        assert np.linalg.norm(path[:, :2] - eye[:2], axis=1).min() > 0.5 and eye[2] >= 0.2 - 1e-9
