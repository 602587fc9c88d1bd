"""The second look (``tvstream.pipeline._second_look``): a detector frame whose read stays unsure is read again
cropped on the second detector's person, and that read is kept where the head is surer."""

from __future__ import annotations

import numpy as np
import pytest

from engines.metadata import ModelMetadata
from tvstream.candidates import Candidate
from tvstream.frame_fit import FrameFit
from tvstream.pipeline import RunOptions, estimate
from tvstream.sources import Frame

H, W, K = 64, 128, 17
MAP_H, MAP_W = 4, 8  # the detector map: cells of 16 px


def test_candidate_iou_on_hand_computed_boxes():
    a = Candidate(np.array([0.0, 0.0]), np.array([0.5, 0.5]), 1.0)
    assert a.iou(np.array([0.5, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.5 / 1.5)  # overlap 0.5 x 1 of 1
    assert a.iou(np.array([0.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(1.0)
    assert a.iou(np.array([0.0, 0.0]), np.array([0.25, 0.5])) == pytest.approx(0.5)  # half of it, inside it
    assert a.iou(np.array([2.0, 0.0]), np.array([0.5, 0.5])) == 0.0


class OnePerson:
    """A bright person on the left; the first detector sees someone on empty ground on the right (its map's
    peak and its crop). ``conf`` is 0.1 + 0.8 x the bright share of the crop. ``person``: the second
    detector's best person (score ``score``, box ``place``) on detector frames."""

    name = "fake"
    body = (8, 8, 40, 56)  # x0, y0, x1, y1 pixels
    wrong = (80, 8, 112, 56)

    def __init__(self, score: float, place: tuple[int, int, int, int] = body) -> None:
        self.metadata = ModelMetadata(input_size=(H, W), inputs=("frames", "track"),
                                      outputs=("box", "pose3d", "pose2d", "conf", "detections", "person"))
        self.score, self.place, self.tracks = score, place, []

    @staticmethod
    def norm(box) -> np.ndarray:
        x0, y0, x1, y1 = box
        return np.array([(x0 + x1) / W - 1, (y0 + y1) / H - 1, (x1 - x0) / W, (y1 - y0) / H])

    def image(self) -> np.ndarray:
        image = np.zeros((H, W, 3), np.uint8)
        x0, y0, x1, y1 = self.body
        image[y0:y1, x0:x1] = 255
        return image

    def infer(self, frames, track=None):
        row = track[0]
        self.tracks.append(row.copy())
        c, h = (row[1:3], row[3:5]) if row[0] == 1 else np.split(self.norm(self.wrong), 2)
        box = np.array([(c[0] - h[0] + 1) * W / 2, (c[1] - h[1] + 1) * H / 2,
                        (c[0] + h[0] + 1) * W / 2, (c[1] + h[1] + 1) * H / 2])
        x0, y0, x1, y1 = np.clip(box, 0, [W, H, W, H]).round().astype(int)
        bright = float((frames[0, y0:y1, x0:x1, 0] > 0).mean()) if x1 > x0 and y1 > y0 else 0.0
        lo, hi = box[:2], box[2:]
        m = np.full((3, MAP_H, MAP_W), -20.0, np.float32)
        m[0, 1:3, 5:7] = 12.0  # a plateau of 4 cells: read as one person centred on the wrong box
        m[1:] = np.log(self.norm(self.wrong)[2:])[:, None, None]
        person = np.array([[self.score if row[0] == 0 else 0.0, *self.norm(self.place)]], np.float32)
        return {"box": box[None].astype(np.float32), "pose3d": np.zeros((1, K, 3), np.float32),
                "pose2d": (lo + (hi - lo) * np.linspace(0.1, 0.9, K)[:, None])[None].astype(np.float32),
                "conf": np.full((1, K), 0.1 + 0.8 * bright, np.float32), "detections": m[None], "person": person}

    def looked(self) -> bool:
        """Was a frame read cropped on the second detector's person?"""
        return any(t[0] == 1 and np.allclose(t[1:], self.norm(self.place), atol=1e-6) for t in self.tracks)


class FrameSource:
    width, height, fps, uri = W, H, 25.0, "one"
    fit = FrameFit.of((H, W), (H, W))

    def __init__(self, image: np.ndarray) -> None:
        self._frames = [Frame(0, 0.0, image)]

    def frames(self, stop=None):
        yield from self._frames


def _run(backend: OnePerson, second_look: float | None = 0.5):
    opts = RunOptions(smooth=False, scenario="ski", second_look=second_look)
    record, = estimate(FrameSource(backend.image()), backend, opts)
    return record


def test_an_unsure_second_detector_s_person_is_read_and_kept_where_the_head_is_surer():
    backend = OnePerson(score=0.6)
    record = _run(backend)
    assert backend.tracks[0][0] == 0 and backend.looked()
    np.testing.assert_allclose(record.crop, backend.body, atol=0.5)
    assert record.detected and record.conf.mean() == pytest.approx(0.9)


@pytest.mark.parametrize("score, second_look", [(0.4, 0.5), (0.9, None)])
def test_no_second_look_under_the_floor_or_when_turned_off(score, second_look):
    backend = OnePerson(score=score)
    record = _run(backend, second_look)
    assert not backend.looked()
    np.testing.assert_allclose(record.crop, backend.wrong, atol=0.5)


def test_the_first_read_stays_where_the_second_detector_s_person_is_emptier():
    backend = OnePerson(score=0.7, place=(50, 8, 70, 56))  # the second detector is wrong too: empty ground
    record = _run(backend)
    assert backend.looked()
    np.testing.assert_allclose(record.crop, backend.wrong, atol=0.5)


def test_no_second_look_where_the_crop_already_read_that_box():
    backend = OnePerson(score=0.7, place=OnePerson.wrong)
    _run(backend)
    assert len(backend.tracks) == 1


def test_a_surer_read_that_is_still_unsure_does_not_replace_the_first():
    backend = OnePerson(score=0.7, place=(0, 0, 64, 64))  # the person fills 0.375 of it: conf 0.4 against 0.1
    record = _run(backend)
    assert backend.looked()
    np.testing.assert_allclose(record.crop, backend.wrong, atol=0.5)


def test_only_someone_where_the_held_athlete_may_be_is_read_on_a_second_look():
    from tvstream.athlete import AthleteTrack, KeepOptions

    track = AthleteTrack((H, W), KeepOptions())
    assert track.may_be(np.array([0.9, 0.9]), 0.0)  # nobody held yet: anyone
    track.update(np.array([0.0, 0.0]), np.array([0.1, 0.3]), 0.0, True, True, np.zeros((H, W, 3), np.uint8))
    # the athlete's longer half-side is 0.3 x 32 = 9.6 px: 0.05 x 64 = 3.2 px away is 0.33 of it, 0.5 is 3.3
    assert track.may_be(np.array([0.05, 0.0]), 0.04)
    assert not track.may_be(np.array([0.5, 0.0]), 0.04)
    assert track.may_be(np.array([0.5, 0.0]), 100.0)  # the athlete's track has ended


class TileFinder:
    """The square-view twin's person detector: in each square a row names, the person ``found`` when the square
    holds its box's centre (score ``score``), else someone unsure (0.05) at the square's centre."""

    def __init__(self, found: tuple[int, int, int, int], score: float) -> None:
        self.found, self.score, self.calls = OnePerson.norm(found), score, []

    def infer(self, frames, track=None):
        self.calls.append(track.copy())
        rows = []
        for row in track:
            inside = abs(self.found[0] - row[1]) <= row[3] and abs(self.found[1] - row[2]) <= row[4]
            rows.append([self.score, *self.found] if inside else [0.05, row[1], row[2], 0.1, 0.1])
        return {"person": np.array(rows, np.float32)}


def _run_with_tiles(backend: OnePerson, finder: TileFinder):
    opts = RunOptions(smooth=False, scenario="ski")  # the second look from 0.2
    record, = estimate(FrameSource(backend.image()), backend, opts, finder=finder)
    return record


def test_tiles_cover_a_landscape_picture_in_squares_as_tall_as_it():
    wide = FrameFit.of((720, 1280), (288, 512))  # 16:9: two squares of 288 px, centred at x 144 and 368
    np.testing.assert_allclose(wide.tile_rows(), [[0, -0.4375, 0, 0.5625, 1], [0, 0.4375, 0, 0.5625, 1]])
    four_three = FrameFit.of((360, 480), (288, 512))  # its picture is 384 px wide from x 64: squares at 208, 304
    np.testing.assert_allclose(four_three.tile_rows()[:, 1], [-0.1875, 0.1875])
    scope = FrameFit.of((272, 640), (288, 512))  # 2.35:1: three squares, the middle one centred
    assert len(scope.tile_rows()) == 3 and scope.tile_rows()[1, 1] == pytest.approx(0.0)
    tall = FrameFit.of((1920, 1080), (288, 512))  # upright: its own square, the view row
    np.testing.assert_allclose(tall.tile_rows(), tall.view_row()[None])


def test_a_weak_whole_frame_person_is_searched_for_in_squares_and_read_there():
    """The whole frame's person detector barely sees the person on the left (0.3, under the search's 0.5); in the
    left square the finder is sure of it: the second look reads there and keeps it (the head is surer)."""
    backend, finder = OnePerson(score=0.3, place=(60, 20, 70, 30)), TileFinder(OnePerson.body, 0.9)
    record = _run_with_tiles(backend, finder)
    assert len(finder.calls) == 1 and len(finder.calls[0]) == 2  # one batch of the two squares of 128 x 64
    np.testing.assert_allclose(record.crop, backend.body, atol=0.5)
    assert record.detected and record.conf.mean() == pytest.approx(0.9)


def test_a_sure_whole_frame_person_is_not_searched_for_and_a_weaker_tile_is_not_taken():
    backend, finder = OnePerson(score=0.6), TileFinder(OnePerson.wrong, 0.9)
    _run_with_tiles(backend, finder)
    assert not finder.calls and backend.looked()  # 0.6 >= the search's 0.5: the frame's person is read
    backend, finder = OnePerson(score=0.45), TileFinder(OnePerson.wrong, 0.4)  # the squares see less
    _run_with_tiles(backend, finder)
    assert len(finder.calls) == 1 and backend.looked()  # the whole frame's person kept
