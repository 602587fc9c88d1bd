"""The real dev set's own machinery, offline: photo -> still clip, cut-outs on grey, members out of a package."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.real_dev import CLIPS, GROUPS, MATTE, MEMBERS, SOURCES, even, read_photo, still_clip
from tvstream.sources import VideoSource


def _photo(h: int = 61, w: int = 45) -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)


def test_a_still_clip_decodes_to_identical_frames_of_the_photo_padded_to_even(tmp_path: Path):
    photo = _photo()  # odd on both sides
    path = still_clip(photo, tmp_path / "still.mp4", frames=5, fps=5)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.average_rate == 5
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
    assert len(frames) == 5
    assert frames[0].shape == (62, 46, 3)
    for f in frames[1:]:
        np.testing.assert_array_equal(f, frames[0])
    gray = [cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY).astype(int)
            for im in (frames[0][:61, :45], photo)]
    assert np.abs(gray[0] - gray[1]).mean() < 3  # the photo itself (its brightness: yuv420p halves the colour)
    with VideoSource(str(path), (32, 32)) as source:  # what the benchmark's scorer reads it with
        assert (source.height, source.width) == (62, 46)
        assert sum(1 for _ in source.frames()) == 5


def test_even_replicates_the_last_row_and_column_only_where_odd():
    image = _photo(5, 4)
    grown = even(image)
    assert grown.shape == (6, 4, 3)
    np.testing.assert_array_equal(grown[5], image[4])
    assert even(grown).shape == grown.shape


def test_read_photo_lays_a_cutout_on_grey_with_margins_and_crops_boxes(tmp_path: Path):
    rgba = np.zeros((50, 20, 4), np.uint8)
    rgba[10:40, 5:15] = (0, 0, 255, 255)  # an opaque red bar (BGR) on a transparent ground
    cv2.imwrite(str(tmp_path / "cut.png"), rgba)
    rgb = read_photo(tmp_path / "cut.png")
    assert rgb.shape == (50 + 2 * 10, 20 + 2 * 4, 3)
    assert tuple(rgb[0, 0]) == (MATTE,) * 3 and tuple(rgb[10 + 25, 4 + 10]) == (255, 0, 0)
    cv2.imwrite(str(tmp_path / "photo.png"), _photo()[..., ::-1])
    np.testing.assert_array_equal(read_photo(tmp_path / "photo.png", (3, 4, 20, 30)), _photo()[4:30, 3:20])


def test_the_set_names_only_its_own_members_and_groups_and_no_held_out_source():
    assert {c.member for c in CLIPS.values()} <= set(MEMBERS)
    assert {c.group for c in CLIPS.values()} == set(GROUPS)
    assert {m.source for m in MEMBERS.values()} <= set(SOURCES)
    assert not [g for g in GROUPS if "ski" in g or "dive" in g]  # scenario_of would give them another scenario
    held_out = ("sports2d", "pose2sim", "vtest")
    assert not [s for s in SOURCES.values() if any(h in s.package.lower() for h in held_out)]
    assert not [m for m in MEMBERS.values() if any(h in m.path.lower() for h in held_out)]
    for clip in CLIPS.values():
        assert (clip.box is None) or (clip.frames is None)
        if clip.box is not None:
            x0, y0, x1, y1 = clip.box
            assert 0 <= x0 < x1 and 0 <= y0 < y1

