"""A new shot: the cut detector's numbers on hand-made pictures and on the sample clip, and what the run forgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_tracking_crop import CropBackend, H, W, rect
from tvstream.frame_fit import FrameFit
from tvstream.pipeline import RunOptions, estimate
from tvstream.scene_cut import CutDetector, block_means, change, colour_change, colour_histogram, correlation_peak, grid
from tvstream.sources import Frame, VideoSource

SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"


def texture(seed: int, width: int = W, height: int = H) -> np.ndarray:
    """A grey picture of 8 x 8 px cells of random levels 0-99, (height, width, 3) uint8 (dark: the fake backend's
    'person' is what is brighter than 128)."""
    cells = np.random.default_rng(seed).integers(0, 100, (height // 8, width // 8))
    return np.repeat(np.kron(cells, np.ones((8, 8)))[..., None], 3, axis=2).astype(np.uint8)


def test_block_means_are_normalised_and_a_flat_picture_is_zeros():
    grey = np.kron(np.array([[0.0, 10.0], [20.0, 30.0]]), np.ones((4, 4))).astype(np.float32)  # four 4 x 4 blocks
    # means 0, 10, 20, 30 -> minus 15 -> over their spread sqrt(125)
    np.testing.assert_allclose(block_means(grey), np.array([[-15, -5], [5, 15]]) / np.sqrt(125), rtol=1e-6)
    np.testing.assert_array_equal(block_means(np.full((8, 8), 77, np.float32)), np.zeros((2, 2)))


def test_exposure_is_no_change_and_two_pictures_are_about_one():
    a, b = texture(0), texture(1)
    darker = (a * 0.5).astype(np.uint8)
    assert change(block_means(grid(a)), block_means(grid(darker))) < 0.05
    assert change(block_means(grid(a)), block_means(grid(b))) > 0.7


def test_the_correlation_peak_is_high_for_a_shift_and_low_for_another_picture():
    a = grid(texture(0, 512, 288))  # the model frame's grid: 72 x 128
    assert correlation_peak(a, np.roll(a, (2, 5), axis=(0, 1))) > 0.9  # a whole-pixel circular shift: ~1
    assert correlation_peak(a, grid(texture(1, 512, 288))) < 0.1


def green_tinted(image: np.ndarray) -> np.ndarray:
    """``image`` with its green channel lifted by 150: other colours, the same red (the fake backend's)."""
    out = image.copy()
    out[..., 1] = np.minimum(out[..., 1].astype(np.int32) + 150, 255)
    return out


def test_colours_tell_another_place_and_ignore_exposure():
    a = texture(0)
    assert colour_change(colour_histogram(a), colour_histogram(a)) == 0
    # levels 0-99 fill the first two of four bins a channel; lifted green moves every pixel to the last two
    assert colour_change(colour_histogram(a), colour_histogram(green_tinted(a))) == 1.0


def test_a_slow_pan_is_one_shot_and_another_place_starts_another():
    world = texture(2, width=W + 64)
    frames = [world[:, 2 * t:2 * t + W] for t in range(12)] + [green_tinted(texture(3))] * 3
    shots = CutDetector()
    assert [shots.observe(f) for f in frames] == [False] * 12 + [True, False, False]
    assert shots.cuts == 1


def test_a_fast_pan_is_one_shot_but_a_new_picture_after_a_still_one_is_a_cut():
    """Every frame of a fast pan changes much (the ski-over-photo case): no spike, no cut. After a still shot, a
    picture of the same colours changes as that shot never did: a cut (another camera of the same place)."""
    world = texture(2, width=W + 200)
    shots = CutDetector()
    pan = [world[:, 13 * t:13 * t + W] for t in range(15)]
    assert not any(shots.observe(f) for f in pan)
    assert change(block_means(grid(pan[0])), block_means(grid(pan[1]))) > 0.45  # each step a large change
    shots = CutDetector()
    still = [texture(4)] * 6 + [texture(5)] * 2
    assert [shots.observe(f) for f in still] == [False] * 6 + [True, False]


def room_camera(k: int, noise_seed: int = 0, frames: int = 1) -> list[np.ndarray]:
    """``frames`` frames of one room seen by fixed camera ``k``: the same smooth walls (low waves in each colour)
    zoomed 5% and shifted 5 px more per camera, each camera's own fine grain, and a little sensor noise a frame
    (model frame size, 288 x 512). Two cameras' pictures differ by about 0.18 (``change``) with a peak of about
    0.18: much alike, yet not one the other shifted (the room of s40_rule.md's S3)."""
    h, w = 288, 512
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = (xx - w / 2) / (1 + 0.05 * k) + w / 2 + 5 * k, (yy - h / 2) / (1 + 0.05 * k) + h / 2
    walls = np.full((h, w, 3), 110.0, np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
            walls[..., c] += 25 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + phase)
    grain = np.kron(np.random.default_rng(10 + k).uniform(-10, 10, (h // 2, w // 2)), np.ones((2, 2)))
    picture = walls + grain[..., None]
    noise = np.random.default_rng(noise_seed)
    return [np.clip(picture + noise.normal(0, 1.5, picture.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


def test_a_cut_between_two_fixed_cameras_of_one_room_is_found_but_a_person_walking_in_is_not():
    a, b = room_camera(0, frames=10), room_camera(1, noise_seed=1, frames=5)
    moved = change(block_means(grid(a[-1])), block_means(grid(b[0])))
    assert 0.12 < moved < 0.45 and correlation_peak(grid(a[-1]), grid(b[0])) < 0.5  # only the still-shot rule
    shots = CutDetector()
    assert [i for i, f in enumerate(a + b) if shots.observe(f)] == [10]
    # in one camera's still shot a bright person walks in fast, and another stands where the last one was: no cut
    walk = room_camera(0, frames=16)
    for t, f in enumerate(walk[6:12]):
        f[100:220, 30 * t:30 * t + 50] = 230
    walk[12][100:220, 400:450] = 230  # a person appears elsewhere at once (the next take in one camera)
    walk[13][100:220, 400:450] = 230
    shots = CutDetector()
    assert not any(shots.observe(f) for f in walk)


def read(video: Path) -> list[np.ndarray]:
    with VideoSource(str(video), (288, 512)) as source:
        return [frame.image for frame in source.frames()]


def test_the_sample_clip_pans_without_a_cut_and_a_jump_inside_it_is_one():
    frames = read(SAMPLE)
    shots = CutDetector()
    assert not any(shots.observe(f) for f in frames)  # a panning camera, 250 frames: one shot
    shots = CutDetector()
    jumped = frames[:60] + frames[190:]  # the camera 130 frames further on: the skier elsewhere, other snow
    assert [i for i, f in enumerate(jumped) if shots.observe(f)] == [60]


class TwoShots:
    """Frames 0-5: the bright 'person' moves right over one backdrop; frames 6-11: a cut to another place (other
    colours) with the person further right (partly inside the crop the last shot's joints would place)."""

    width, height, fps, uri = W, H, 25.0, "two-shots"
    fit = FrameFit.of((H, W), (H, W))

    def frames(self, stop=None):
        for t in range(12):
            image = texture(4) if t < 6 else green_tinted(texture(5))
            x0, y0, x1, y1 = rect(t) if t < 6 else (50 + 2 * t, 16, 65 + 2 * t, 55)
            image[y0:y1 + 1, x0:x1 + 1] = 230
            yield Frame(t, t / 25, image)


@pytest.mark.parametrize("cuts", [True, False])
def test_after_a_cut_the_detector_finds_the_person_again_with_a_new_track_and_shot(cuts):
    backend = CropBackend()
    records = list(estimate(TwoShots(), backend, RunOptions(smooth=False, reread=False, cuts=cuts)))
    uses = [float(track[0, 0]) for track in backend.fed]
    ids = [r.track for r in records]
    if cuts:
        assert uses == [0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]  # the new shot's first crop: the detector's
        assert ids == [1] * 6 + [2] * 6
        assert [r.shot for r in records] == [0] * 6 + [1] * 6  # and the pose lines say so
        assert [r.to_dict()["shot"] for r in records[5:7]] == [0, 1]
        np.testing.assert_allclose(records[6].pose2d.min(axis=0), [62, 16])  # the whole person in the new shot
        np.testing.assert_allclose(records[6].pose2d.max(axis=0), [77, 55])
    else:  # the crop follows the last shot's joints into the new one, and the track id carries over
        assert uses[6] == 1 and ids == [1] * 12 and {r.shot for r in records} == {0}
        assert records[6].pose2d.min(axis=0)[0] == 62 and records[6].pose2d.max(axis=0)[0] < 77  # cut by the crop
