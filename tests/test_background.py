import logging
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import train.background.cache as bg_cache
from train.background import background_for, diving_from_frames, median_background, panorama_from_frames
from train.data.pattern_video import write_pattern_video
from train.data.video_reader import decode_frames


def _texture(height: int, width: int, block: int, seed: int = 0) -> np.ndarray:
    """Random colour blocks, lightly blurred: corners everywhere to track, like a busy venue. ``(H, W, 3)``."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (height // block + 1, width // block + 1, 3), dtype=np.uint8)
    big = cv2.resize(cells, (cells.shape[1] * block, cells.shape[0] * block), interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(np.ascontiguousarray(big[:height, :width]), (0, 0), 1.0)


def _write_video(path: Path, frames: np.ndarray) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "10", "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def _panning(size: tuple[int, int], num_frames: int, step: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """A window sliding over a textured world, with a red square crossing it (the athlete).

    Returns ``frames (T, H, W, 3)``, the true empty crops ``(T, H, W, 3)`` and square boxes ``(T, 3)`` = x, y, side.
    """
    (h, w), (dx, dy) = size, step
    world = _texture(h + dy * num_frames, w + dx * num_frames, block=max(4, w // 20))
    side = h // 8
    truth = np.stack([world[dy * t:dy * t + h, dx * t:dx * t + w] for t in range(num_frames)])
    frames, boxes = truth.copy(), []
    for t in range(num_frames):
        x, y = (w - side) * t // (num_frames - 1), h // 2
        frames[t, y:y + side, x:x + side] = (255, 40, 40)
        boxes.append((x, y, side))
    return frames, truth, np.array(boxes)


def test_median_removes_a_moving_square_from_a_static_video(tmp_path):
    h, w, n = 64, 96, 40
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([xx * 2, yy * 3, 60 + (xx // 16 + yy // 16) % 2 * 100], -1).astype(np.uint8)
    frames = np.repeat(background[None], n, axis=0)
    for t in range(n):  # a 12-px white square sweeping left to right through the middle
        x = (w - 12) * t // (n - 1)
        frames[t, 26:38, x:x + 12] = 255
    video = _write_video(tmp_path / "static.mp4", frames)

    estimate = median_background(video, (h, w), max_frames=30)

    assert estimate.shape == (h, w, 3) and estimate.dtype == np.uint8
    error = np.abs(estimate.astype(int) - background)
    assert error.mean() < 3  # measured 2.1: H.264 4:2:0 chroma on the checker edges
    assert error[26:38].max() < 25  # the square's path is back to background (frame: 255 vs ~100)


def test_diving_takes_top_of_last_frame_and_bottom_of_first():
    first = np.full((7, 4, 3), 10, np.uint8)
    last = np.full((7, 4, 3), 200, np.uint8)

    background = diving_from_frames(first, last)

    np.testing.assert_array_equal(background[:3], last[:3])
    np.testing.assert_array_equal(background[3:], first[3:])  # odd height: the middle row is the first frame's
    with pytest.raises(ValueError, match="one shape"):
        diving_from_frames(first, last[:6])


@pytest.mark.parametrize("size, step, max_error", [((128, 128), (2, 1), 2.5), ((180, 320), (4, 1), 1.0)])
def test_panorama_backgrounds_match_the_empty_view(size, step, max_error):
    frames, truth, boxes = _panning(size, 40, step)

    backgrounds = panorama_from_frames(frames)

    assert backgrounds.shape == frames.shape and backgrounds.dtype == np.uint8
    error = np.abs(backgrounds.astype(int) - truth)
    assert error.mean() < max_error  # measured 1.3 (128x128) and 0.3 (320x180)
    on_square = [error[t, y:y + s, x:x + s].mean() for t, (x, y, s) in enumerate(boxes)]
    frame_on_square = [np.abs(frames[t, y:y + s, x:x + s].astype(int) - truth[t, y:y + s, x:x + s]).mean()
                       for t, (x, y, s) in enumerate(boxes)]
    assert np.mean(on_square) < 10 < 50 < np.mean(frame_on_square)  # measured ~6 vs ~108


def test_panorama_drops_a_blank_frame_with_a_warning(caplog):
    frames, truth, _ = _panning((128, 128), 24, (2, 1))
    frames[12] = 128  # a flash: no features to register

    with caplog.at_level(logging.WARNING, logger="train.background.panorama"):
        backgrounds = panorama_from_frames(frames)

    assert "frame 12 dropped" in caplog.text
    error = np.abs(backgrounds.astype(int) - truth)
    assert error[[0, 23]].mean() < 4  # the rest still registers
    # The flash borrows its neighbour's view: as wrong as that view is, one step of the pan away.
    assert error[12].mean() < np.abs(truth[11].astype(int) - truth[12]).mean() + 2


def test_panorama_does_not_start_its_chain_on_a_near_blank_frame(caplog):
    frames, truth, _ = _panning((128, 128), 24, (2, 1))
    frames[0] = 128
    frames[0, 60:63, 60:63] = 255  # one bright dot: a few corners, too few to track the next frame from

    with caplog.at_level(logging.WARNING, logger="train.background.panorama"):
        backgrounds = panorama_from_frames(frames)

    assert "frame 0 dropped" in caplog.text and "frame 1 dropped" not in caplog.text
    assert np.abs(backgrounds[1:].astype(int) - truth[1:]).mean() < 4  # the rest registers from frame 1 on


def test_background_cache_is_reused_and_keyed_by_size_and_kind(tmp_path, monkeypatch):
    video = write_pattern_video(tmp_path / "v.mp4", 20, width=64, height=48)
    first = background_for(video, (48, 64), "median", tmp_path / "cache")
    assert first.shape == (48, 64, 3) and not list((tmp_path / "cache").glob("*.tmp"))

    calls = []

    def counting(video, size, *args):
        calls.append(size)
        return np.zeros((*size, 3), np.uint8)

    def fail(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(bg_cache, "median_background", fail)
    np.testing.assert_array_equal(background_for(video, (48, 64), "median", tmp_path / "cache"), first)
    monkeypatch.setattr(bg_cache, "median_background", counting)
    monkeypatch.setattr(bg_cache, "diving_background", counting)
    background_for(video, (24, 32), "median", tmp_path / "cache")
    background_for(video, (48, 64), "diving", tmp_path / "cache")
    assert calls == [(24, 32), (48, 64)]


def test_panorama_cache_is_a_read_only_memmap_per_frame(tmp_path):
    frames, truth, _ = _panning((96, 128), 16, (3, 1))
    video = _write_video(tmp_path / "pan.mp4", frames)

    backgrounds = background_for(video, (96, 128), "panorama", tmp_path / "cache")

    assert isinstance(backgrounds, np.memmap) and backgrounds.shape == (16, 96, 128, 3)
    assert not backgrounds.flags.writeable
    decoded = np.stack(list(decode_frames(video, (96, 128))))
    floor = np.abs(decoded.astype(int) - truth)[:, :40].mean()  # H.264 4:2:0 on random colour blocks
    assert np.abs(backgrounds.astype(int) - truth).mean() < floor + 3  # measured 11.0 vs a floor of 9.8


def test_unknown_background_kind_is_a_value_error(tmp_path):
    video = write_pattern_video(tmp_path / "v.mp4", 4, width=32, height=32)
    with pytest.raises(ValueError, match="'mosaic'.*median, diving, panorama"):
        background_for(video, (32, 32), "mosaic", tmp_path)


def test_camera_median_recovers_the_venue_behind_an_athlete_who_stays_put(tmp_path):
    """Per video the athlete never leaves their spot; across the camera's videos the spots differ."""
    import av

    from train.background.camera_median import camera_background_for

    venue = np.zeros((64, 96, 3), np.uint8)
    venue[:, :, 0] = np.linspace(40, 200, 96).astype(np.uint8)[None, :]
    videos = []
    for k, x in enumerate((10, 40, 70)):
        path = tmp_path / f"take{k}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 96, 64, "yuv444p"
            s.options = {"crf": "0"}
            for _ in range(12):
                img = venue.copy()
                img[20:50, x:x + 14] = 255  # the athlete, in place for the whole take
                c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            c.mux(s.encode())
        videos.append(path)
    bg = camera_background_for(videos, (64, 96), tmp_path / "cache")
    assert np.abs(bg.astype(int) - venue).max() <= 3
    again = camera_background_for(videos, (64, 96), tmp_path / "cache")  # cached
    assert np.array_equal(bg, again) and len(list((tmp_path / "cache").glob("camera-bg-*.npy"))) == 1


def test_nan_median_equals_numpy_nanmedian_with_holes_and_all_nan_pixels():
    import warnings

    from tvstream.background import nan_median

    rng = np.random.default_rng(0)
    for depth in (1, 2, 3, 4, 31):
        stack = rng.normal(size=(depth, 9, 11)).astype(np.float32)
        stack[rng.random(stack.shape) < 0.3] = np.nan
        stack[:, :2, :2] = np.nan  # always behind the athlete
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = np.nanmedian(stack, axis=0)
        np.testing.assert_allclose(nan_median(stack), want, equal_nan=True)
    assert nan_median(np.array([[1.0], [np.nan], [4.0], [10.0]], np.float32))[0] == 4.0  # median of 1, 4, 10


def _corner_error(estimate: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> float:
    """Mean distance between where two 3x3 maps put the corners of a frame of ``size = (h, w)``."""
    h, w = size
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [w - 1, h - 1, 1], [0, h - 1, 1]], dtype=np.float64)
    a, b = corners @ estimate.T, corners @ truth.T
    return float(np.linalg.norm(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:], axis=1).mean())


def test_panorama_follows_the_synthetic_ski_camera_and_removes_the_skier(tmp_path):
    """The ski venue's camera turns and zooms about a fixed eye, so its true frame-to-frame map is the homography
    K_s R_s R_t^T K_t^-1: registration is checked against it, and the background against the labeled box."""
    from train.background.panorama import register_chain
    from train.synth.generate import SynthConfig, synthesize

    synthesize(SynthConfig(scenario="ski", subjects=1, sequences=1, seconds=2.4, width=320, height=180, seed=5),
               tmp_path)
    video, labels = tmp_path / "videos" / "S01_01_ski_c0.mp4", np.load(tmp_path / "labels" / "S01_01_ski_c0.npz")
    frames = np.stack(list(decode_frames(video, (180, 320))))
    K, R = labels["K_frames"].astype(np.float64), labels["R_frames"].astype(np.float64)

    reg = register_chain(frames)

    assert reg.ok.all()
    errors = {gap: [_corner_error(np.linalg.inv(reg.transforms[t - gap]) @ reg.transforms[t],
                                  K[t - gap] @ R[t - gap] @ R[t].T @ np.linalg.inv(K[t]), (180, 320))
                    for t in range(gap, len(frames))] for gap in (1, 10, 20)}
    # measured 0.7-0.85, 2.4-3.5 and 5.1-6.4 px over renders (the renderer is not bit-exact between runs); the ORB
    # registration this replaced was off by hundreds, and similarity steps alone by ~30 at 20 frames
    assert np.median(errors[1]) < 1.2 and np.median(errors[10]) < 5.0 and np.median(errors[20]) < 9.0

    backgrounds = panorama_from_frames(frames)
    static = np.median(frames, axis=0)

    def share_on_skier(background: np.ndarray) -> float:
        """Share of the foreground mass relu(|I - B| - 0.08) inside the labeled box (widened by 20%)."""
        fg = np.maximum(np.abs(frames.astype(np.float32) - background).mean(-1) / 255 - 0.08, 0)
        shares = []
        for t, (x0, y0, x1, y1) in enumerate(labels["box"]):
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, 0.6 * (x1 - x0), 0.6 * (y1 - y0)
            inside = fg[t, max(0, int(cy - hh)):int(cy + hh) + 1, max(0, int(cx - hw)):int(cx + hw) + 1].sum()
            shares.append(inside / max(fg[t].sum(), 1e-6))
        return float(np.mean(shares))

    assert share_on_skier(backgrounds) > 0.6 > 0.2 > share_on_skier(static)  # measured 0.71-0.73 vs 0.04


def _panning_shot(seed: int, frames: int, size: tuple[int, int] = (72, 96)) -> np.ndarray:
    """A camera panning 2 px per frame across a smooth random texture: ``(frames, h, w, 3)`` uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (size[0], size[1] + 2 * frames, 3), dtype=np.uint8), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    return np.stack([texture[:, 2 * t:2 * t + size[1]] for t in range(frames)])


def test_panorama_starts_a_new_segment_after_a_cut():
    """Two shots with a blank frame between: the second shot registers as its own chain, and its backgrounds
    come from its own frames (before, every frame after a cut was dropped and took the first shot's)."""
    from train.background.panorama import register_chain

    first, second = _panning_shot(1, 12), _panning_shot(2, 12)
    frames = np.concatenate([first, np.zeros_like(first[:1]), second])

    reg = register_chain(frames)

    assert reg.segment.tolist() == [0] * 12 + [-1] + [1] * 12 and reg.ok.tolist() == [True] * 12 + [False] + [True] * 12
    steps = [np.linalg.inv(reg.transforms[t - 1]) @ reg.transforms[t] for t in range(14, 25)]
    assert all(abs(s[0, 2] / s[2, 2] - 2.0) < 0.2 for s in steps)  # frame t's pixel x is frame t-1's x + 2
    backgrounds = panorama_from_frames(frames).astype(np.float32)
    assert np.abs(backgrounds[13:] - frames[13:]).mean() < 8  # the scene itself: nothing moves in it
    assert np.abs(backgrounds[12] - backgrounds[11]).max() == 0  # the blank frame: its neighbour's background
