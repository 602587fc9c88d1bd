"""Choosing and keeping the athlete: the detector map's people, the select policies, the gate, the hold, the ids,
and the pipeline re-cropping around the athlete when the detector's soft-argmax lands between two people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.metadata import ModelMetadata
from tvstream.athlete import AthleteTrack, KeepOptions, Person, appearance, similarity
from tvstream.candidates import Candidate, find_people
from tvstream.frame_fit import FrameFit
from tvstream.pipeline import RunOptions, estimate
from tvstream.sources import Frame

H, W, K = 72, 128, 17
MAP_H, MAP_W = 9, 16


def cell_x(c: int) -> float:
    return (2 * c + 1) / MAP_W - 1


def cell_y(r: int) -> float:
    return (2 * r + 1) / MAP_H - 1


def two_peak_map(cells=((4, 3), (4, 12)), logits=(14.0, 10.0), halves=((0.1, 0.3), (0.2, 0.4))) -> np.ndarray:
    """A detector map with one sharp peak per cell (row, col); each peak's 3x3 log half-size is ``halves``."""
    m = np.zeros((3, MAP_H, MAP_W), np.float32)
    for (r, c), logit, half in zip(cells, logits, halves):
        m[0, r, c] = logit
        m[1:, max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = np.log(half)[:, None, None]
    return m


def test_find_people_reads_one_candidate_per_peak_above_the_logit_threshold():
    # the second person holds a share of e^-4 of the map's probability: a threshold on shares would miss it
    people = find_people(two_peak_map())
    assert [p.score for p in people] == [14.0, 10.0]  # strongest first
    for p, (r, c), half in zip(people, ((4, 3), (4, 12)), ((0.1, 0.3), (0.2, 0.4))):
        # the neighbours' weights are e^-logit of the peak's: the centre moves by < 1e-4 (symmetric: not at all)
        np.testing.assert_allclose(p.centre, [cell_x(c), cell_y(r)], atol=1e-6)
        np.testing.assert_allclose(p.half, half, rtol=1e-5)


def test_find_people_keeps_the_strongest_faint_peak_and_refuses_a_bad_map():
    faint = find_people(two_peak_map(logits=(6.0, 5.0)))  # both below the threshold: the strongest only
    assert [p.score for p in faint] == [6.0]
    off_centre = two_peak_map(cells=((4, 3),), logits=(12.0,), halves=((0.1, 0.3),))
    off_centre[0, 4, 4] = 11.0  # a neighbour almost as strong pulls the centre towards it
    (p,) = find_people(off_centre)
    w = np.exp(-1.0) / (1 + np.exp(-1.0) + 7 * np.exp(-12.0))
    assert p.centre[0] == pytest.approx(cell_x(3) + w * (cell_x(4) - cell_x(3)), rel=1e-4)
    with pytest.raises(ValueError, match=r"\(3, h, w\)"):
        find_people(np.zeros((2, MAP_H, MAP_W)))


def person(x: float, y: float, hx: float, hy: float, score: float = 0.5) -> Candidate:
    return Candidate(np.array([x, y]), np.array([hx, hy]), score)


@pytest.mark.parametrize("policy, expected", [("largest", 1), ("centre", 0), ("first", 2)])
def test_select_policies_pick_the_athlete_at_the_start(policy, expected):
    people = [person(0.05, 0.0, 0.1, 0.2, 0.3), person(0.6, 0.0, 0.2, 0.4, 0.2), person(-0.6, 0.1, 0.1, 0.2, 0.5)]
    people.sort(key=lambda p: -p.score)  # find_people's order
    track = AthleteTrack((H, W), KeepOptions(select=policy))
    chosen = track.choose(people, 0.0, np.zeros((H, W, 3), np.uint8))
    assert chosen.score == [0.3, 0.2, 0.5][expected]


def test_a_held_athlete_is_kept_against_a_bigger_stranger_and_reacquired_where_expected():
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W), KeepOptions(hold_s=1.0))
    assert track.update([-0.5, 0.0], [0.1, 0.3], 0.0, True, True, image) == 1
    assert track.update([-0.4, 0.0], [0.1, 0.3], 0.1, True, True, image) == 1  # moving right, 1 unit/s
    stranger, athlete = person(0.6, 0.0, 0.2, 0.4), person(-0.25, 0.0, 0.1, 0.3)
    # 0.15 s later the prediction is x = -0.355 (0.3 of the step's speed is learnt: 0.3 units/s): the athlete
    assert track.choose([stranger, athlete], 0.25, image) is athlete
    assert track.choose([stranger], 0.25, image) is None  # the stranger is too far: nobody is the athlete
    assert track.update([0.0, 0.0], [0.1, 0.3], 0.5, False, False) == 1  # unseen, still held
    assert track.update([0.0, 0.0], [0.1, 0.3], 1.2, False, False) is None  # gone longer than hold_s
    assert track.choose([stranger], 1.2, image) is stranger  # a new start: the policy chooses
    assert track.update(stranger.centre, stranger.half, 1.2, True, True, image) == 2


def test_the_gate_refuses_another_size_and_colours_break_a_tie():
    image = np.zeros((H, W, 3), np.uint8)
    image[:, : W // 2, 0] = 200  # red left half, blue right half
    image[:, W // 2:, 2] = 200
    track = AthleteTrack((H, W))
    track.update([-0.1, 0.0], [0.1, 0.3], 0.0, True, True, image)  # the athlete wears red
    # 3x the size: refused beyond 1 half-size of the prediction (1 half-size here is 0.3 * H/2 px = 0.3 * H/W in x)
    assert track.choose([person(-0.1 + 1.2 * 0.3 * H / W, 0.0, 0.3, 0.9)], 0.04, image) is None
    assert track.choose([person(0.1, 0.0, 0.1, 0.3)], 0.04, image) is not None  # alone in the gate: blue passes
    red, blue = person(-0.14, 0.0, 0.1, 0.3), person(0.06, 0.0, 0.1, 0.3)  # blue is nearer the prediction
    assert track.choose([blue, red], 0.04, image) is red


def test_the_athlete_changing_shape_in_place_is_still_the_athlete():
    """Getting up from the floor: the box's longer side drops from one frame to the next (the detector reads a
    crouch instead of a body lying flat), beyond the size gate. A peak no other track takes, where the athlete
    is predicted, is the athlete, whatever its size; it must not start a track of 'someone else' that then
    merges with the athlete (and vetoes its frames as ambiguous: 40 of these 49 frames, before)."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.0, 0.3], [0.5, 0.12], 0.0, True, True, image)  # lying: long and flat
    for i in range(1, 50):  # 2 s at 25 fps, centre still; from frame 10 a crouch, 0.4 of the longer side
        t = i / 25
        pick = track.choose([person(0.0, 0.3, 0.5 if i < 10 else 0.2, 0.12, 12.0)], t, image)
        assert pick is not None and not track.ambiguous
        track.update(pick.centre, pick.half, t, True, True, image)
    assert not track.others and track.athlete.half[0] < 0.25
    front = person(-0.1, 0.0, 0.25, 0.75, 14.0)  # 2.5x the athlete's size, within 1 of its half-sizes
    alone = AthleteTrack((H, W))
    alone.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True, image)
    assert alone.choose([front], 0.04, image) is front  # nobody else is tracked: the athlete, reshaped
    passer = AthleteTrack((H, W))  # but not when another track takes the peak: a bigger person walking in front
    passer.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True, image)
    for i in range(1, 5):  # seen coming from the left, 2.5 units/s
        passer.choose([person(0.0, 0.0, 0.1, 0.3, 12.0), person(-0.6 + 0.1 * i, 0.0, 0.25, 0.75, 12.0)], i / 25, image)
        passer.update([0.0, 0.0], [0.1, 0.3], i / 25, True, True, image)
    assert passer.choose([front], 5 / 25, image) is None  # theirs: the athlete is hidden behind them


def test_appearance_is_a_histogram_of_the_torso_region():
    image = np.zeros((H, W, 3), np.uint8)
    image[:, W // 2:] = 255  # right half white
    left = appearance(image, np.array([-0.5, 0.0]), np.array([0.2, 0.5]))
    right = appearance(image, np.array([0.5, 0.0]), np.array([0.2, 0.5]))
    assert left.sum() == pytest.approx(1.0) and left[0] == 1.0 and right[-1] == 1.0
    assert similarity(left, right) == 0.0 and similarity(left, left) == pytest.approx(1.0)
    assert appearance(image, np.array([3.0, 0.0]), np.array([0.1, 0.1])) is None  # outside the frame
    with pytest.raises(ValueError, match="select"):
        KeepOptions(select="nearest")
    with pytest.raises(ValueError, match="colour_weight"):
        KeepOptions(colour_weight=-1)
    with pytest.raises(ValueError, match="behind"):
        KeepOptions(behind=1.5)


class TwoPeople:
    """Two bright rectangles (left: red, the athlete; right: blue); the detector's map has a peak on each and
    its soft-argmax box lies between them. With a track row the crop sees only what is inside it."""

    name = "fake"
    left, right = (16, 20, 32, 56), (80, 24, 92, 52)  # x0, y0, x1, y1 pixels: left bigger, right more central

    def __init__(self) -> None:
        self.metadata = ModelMetadata(input_size=(H, W), outputs=("box", "pose3d", "pose2d", "conf", "detections"),
                                      inputs=("frames", "track"))
        self.tracks: list[np.ndarray] = []

    def frames(self, n: int):
        for t in range(n):
            image = np.zeros((H, W, 3), np.uint8)
            x0, y0, x1, y1 = self.left
            image[y0:y1, x0:x1, 0] = 220
            x0, y0, x1, y1 = self.right
            image[y0:y1, x0:x1, 2] = 220
            yield Frame(t, t / 25, image)

    @staticmethod
    def _norm(box) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = box
        return np.array([(x0 + x1) / W - 1, (y0 + y1) / H - 1]), np.array([(x1 - x0) / W, (y1 - y0) / H])

    def infer(self, frames, track=None):
        row = track[0]
        self.tracks.append(row.copy())
        out = {"pose3d": np.zeros((1, K, 3), np.float32), "conf": np.full((1, K), 0.9, np.float32)}
        if row[0] == 1:
            c, h = row[1:3], row[3:5]
            box = np.array([(c[0] - h[0] + 1) * W / 2, (c[1] - h[1] + 1) * H / 2,
                            (c[0] + h[0] + 1) * W / 2, (c[1] + h[1] + 1) * H / 2])
        else:
            box = (np.array(self.left) + np.array(self.right)) / 2.0  # between the two
        lo, hi = box[:2], box[2:]
        out["box"] = box[None].astype(np.float32)
        out["pose2d"] = (lo + (hi - lo) * np.linspace(0.1, 0.9, K)[:, None])[None].astype(np.float32)
        m = np.zeros((3, MAP_H, MAP_W), np.float32)
        for b in (self.left, self.right):
            c, h = self._norm(b)
            col, r = int((c[0] + 1) / 2 * MAP_W), int((c[1] + 1) / 2 * MAP_H)
            m[0, r, col] = 9.0
            m[1:, max(r - 1, 0):r + 2, max(col - 1, 0):col + 2] = np.log(h)[:, None, None]
        out["detections"] = m[None]
        return out


class FrameSource:
    width, height, fps, uri = W, H, 25.0, "two"
    fit = FrameFit.of((H, W), (H, W))  # frames at the model's size

    def __init__(self, frames) -> None:
        self._frames = frames

    def frames(self, stop=None):
        yield from self._frames


@pytest.mark.parametrize("select, side", [("largest", "left"), ("centre", "right")])
def test_the_pipeline_recrops_on_the_chosen_person_instead_of_between_two(select, side):
    backend = TwoPeople()
    opts = RunOptions(smooth=False, scenario="ski", keep=KeepOptions(select=select))
    records = list(estimate(FrameSource(list(backend.frames(3))), backend, opts))
    assert [r.track for r in records] == [1, 1, 1] and all(r.detected for r in records)
    # frame 0: the detector's call, then a second call around the chosen person
    assert backend.tracks[0][0] == 0 and backend.tracks[1][0] == 1
    centre, _ = backend._norm(getattr(backend, side))
    np.testing.assert_allclose(backend.tracks[1][1:3], centre, atol=1 / MAP_W + 1e-3)  # a sharp peak: its cell
    x0, _, x1, _ = records[0].crop
    # the box holds the athlete, within half a map cell (4 px) of where the sharp peak put it
    assert x0 <= getattr(backend, side)[0] + 4 and x1 >= getattr(backend, side)[2] - 4


def test_a_crop_around_the_held_athlete_is_capped_at_its_smoothed_size():
    track = AthleteTrack((H, W), KeepOptions(max_growth=1.25, size_smoothing=0.8))
    image = np.zeros((H, W, 3), np.uint8)
    track.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True, image)
    track.update([0.0, 0.0], [0.3, 0.3], 0.04, True, True, image)  # a merge with someone: 3x as wide, once
    np.testing.assert_allclose(track.athlete.half, [0.8 * 0.1 + 0.2 * 0.3, 0.3])  # the running size moves by a fifth
    wide = np.array([1.0, 0.1, 0.0, 0.4, 0.3], np.float32)
    np.testing.assert_allclose(track.limit(wide, 0.08), [1.0, 0.1, 0.0, 1.25 * 0.14, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(track.limit(np.zeros(5, np.float32), 0.08), np.zeros(5))  # detector: untouched
    np.testing.assert_array_equal(track.limit(wide, 5.0), wide)  # no athlete held any more: untouched


def test_the_cap_on_the_athletes_crop_grows_with_the_reach_of_its_own_sure_skeletons():
    """Rule 34 (RS): the track's size is learnt from its surest reads only, so a person walking towards the camera
    was cropped to its upper body at 1.25 times its first frame's size. An ``own`` read's reach (the crop its
    skeleton places) lifts the cap, per axis, smoothed as sizes are; other reads do not move it."""
    track = AthleteTrack((H, W), KeepOptions(max_growth=1.25, size_smoothing=0.8))
    track.update([0.0, 0.0], [0.1, 0.2], 0.0, True, True, steady=False)
    tall = np.array([1.0, 0.0, 0.0, 0.3, 0.6], np.float32)
    np.testing.assert_allclose(track.limit(tall, 0.04)[3:5], [1.25 * 0.1, 1.25 * 0.2], rtol=1e-6)
    track.update([0.0, 0.0], [0.1, 0.2], 0.04, True, False, steady=False, reach=np.array([0.2, 0.5]))  # not own
    np.testing.assert_allclose(track.limit(tall, 0.08)[3:5], [1.25 * 0.1, 1.25 * 0.2], rtol=1e-6)
    track.update([0.0, 0.0], [0.1, 0.2], 0.08, True, False, steady=False, own=True, reach=np.array([0.08, 0.4]))
    np.testing.assert_allclose(track.limit(tall, 0.12)[3:5], [1.25 * 0.1, 1.25 * 0.4], rtol=1e-6)  # the larger
    track.update([0.0, 0.0], [0.1, 0.2], 0.12, True, False, steady=False, own=True, reach=np.array([0.08, 0.6]))
    np.testing.assert_allclose(track.limit(tall, 0.16)[3:5], [1.25 * 0.1, 1.25 * 0.44], rtol=1e-6)  # smoothed
    track.update([0.5, 0.0], [0.1, 0.2], 5.0, True, False, steady=False)  # a new athlete: no reach
    np.testing.assert_allclose(track.limit(tall, 5.04)[3:5], [1.25 * 0.1, 1.25 * 0.2], rtol=1e-6)


def test_the_athletes_size_grows_with_the_box_its_own_fairly_sure_skeletons_span():
    """Rule 37 (ZG): sizes were learnt from steady reads only (the model's track_conf, 0.98), so on real footage
    (and pillar_123) a track started on a small first box kept it, and the athlete coming back from behind a pillar
    was outside its gate. An ``own`` read under track_conf grows the size towards its skeleton's box (``body``),
    smoothed; a smaller box (a tuck, a body half behind a wall: rule 35) does not shrink it; other reads do not
    move it, nor a box the frame's edge cuts, and the velocity stays unlearnt."""
    track = AthleteTrack((H, W), KeepOptions(size_smoothing=0.8))
    track.update([0.0, 0.0], [0.1, 0.2], 0.0, True, False, steady=False)
    body = (np.array([0.0, 0.0]), np.array([0.15, 0.4]))
    track.update([0.0, 0.0], [0.1, 0.2], 0.04, True, False, steady=False, body=body)  # not own: nothing learnt
    np.testing.assert_allclose(track.athlete.half, [0.1, 0.2])
    track.update([0.01, 0.0], [0.1, 0.2], 0.08, True, False, steady=False, own=True, body=body)
    np.testing.assert_allclose(track.athlete.half, [0.11, 0.24])  # 0.8 x old + 0.2 x the skeleton's box
    track.update([0.02, 0.0], [0.1, 0.2], 0.12, True, False, steady=False, own=True, body=body)
    np.testing.assert_allclose(track.athlete.half, [0.118, 0.272])
    np.testing.assert_allclose(track.athlete.centre, [0.02, 0.0])  # the place moves (rule 26) ...
    np.testing.assert_allclose(track.athlete.velocity, [0.0, 0.0])  # ... the velocity is not learnt
    tucked = (np.array([0.0, 0.0]), np.array([0.12, 0.15]))  # wider, but smaller: its longer side is shorter
    track.update([0.02, 0.0], [0.1, 0.2], 0.16, True, False, steady=False, own=True, body=tucked)
    np.testing.assert_allclose(track.athlete.half, [0.118, 0.272])
    cut = (np.array([0.9, 0.0]), np.array([0.15, 0.4]))  # its box reaches past the frame's right edge
    track.update([0.02, 0.0], [0.1, 0.2], 0.2, True, False, steady=False, own=True, body=cut)
    np.testing.assert_allclose(track.athlete.half, [0.118, 0.272])


def test_a_false_peak_seen_while_the_athlete_s_was_missing_does_not_make_it_ambiguous():
    """A box detector's false peak, twice the athlete's size, for three frames (the first beside the athlete's
    own, the next two while the athlete's was missing), moving towards it. Its track coasts over the athlete: it
    had three hits, so it counted as a person merging with the athlete, and the athlete was ambiguous (its sure
    reads vetoed) until that track expired (tvstream adapt's held-out get-up clip: 37 frames). Only detections
    beside the athlete's own peak confirm someone else."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    here = person(0.2, 0.3, 0.12, 0.28, 12.0)
    track.update(here.centre, here.half, 0.0, True, True, image)
    for i in range(1, 8):  # the athlete alone
        pick = track.choose([here], i / 25, image)
        track.update(pick.centre, pick.half, i / 25, True, True, image)
    for i, x in enumerate((0.45, 0.42, 0.39)):  # the false peak: beside the athlete's, then instead of it
        t = (8 + i) / 25
        ghost = person(x, 0.45 - x, 0.3, 0.53, 19.9)
        pick = track.choose([here, ghost] if i == 0 else [ghost], t, image)
        if pick is not None:
            track.update(pick.centre, pick.half, t, True, True, image)
    assert max(o.hits for o in track.others) == 3  # its track: three hits, one of them beside the athlete
    for i in range(11, 60):  # the athlete's own peak again, where it was
        t = i / 25
        pick = track.choose([here], t, image)
        assert pick is here and not track.ambiguous, i
        track.update(pick.centre, pick.half, t, True, True, image)


def test_a_crossing_keeps_the_athlete_through_the_merged_peak_and_gives_the_passer_its_own_track():
    """A still athlete at x = -0.1 and a passer-by walking right at 1 unit/s, 25 fps: apart, then one merged peak
    between them for 0.5 s, then apart again. The athlete's track must not follow the merged peak, and when they
    part the athlete is the one that stayed (the passer's track carries it on along its path)."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    fps, athlete_x = 25.0, -0.1
    ambiguous, picks = [], []
    for i in range(60):
        t = i / fps
        passer_x = -0.9 + 1.0 * t
        athlete = person(athlete_x, 0.0, 0.1, 0.3, 14.0)
        passer = person(passer_x, 0.0, 0.1, 0.3, 13.0)
        merged = abs(passer_x - athlete_x) < 0.25
        people = [person((athlete_x + passer_x) / 2, 0.0, 0.1, 0.3, 16.0)] if merged else [athlete, passer]
        pick = track.choose(people, t, image)
        ambiguous.append(track.ambiguous)
        picks.append(None if pick is None else float(pick.centre[0]))
        where = pick if pick is not None else athlete
        assert track.update(where.centre, where.half, t, pick is not None, True) == 1
    first_merged = next(i for i in range(60) if abs(-0.9 + i / fps - athlete_x) < 0.25)
    last_merged = max(i for i in range(60) if abs(-0.9 + i / fps - athlete_x) < 0.25)
    assert all(ambiguous[first_merged:last_merged + 1])  # one peak for two: the athlete is ambiguous throughout
    np.testing.assert_allclose(track.athlete.centre[0], athlete_x, atol=1e-6)  # never moved by the merged peak
    after = picks[last_merged + 1:]
    assert after and all(x == pytest.approx(athlete_x) for x in after)  # the one that stayed
    assert not ambiguous[-1]
    passer_track = max(track.others, key=lambda p: p.hits)
    assert passer_track.centre[0] > 0.3 and passer_track.velocity[0] == pytest.approx(1.0, abs=0.05)


def test_owns_withholds_skeletons_where_the_two_are_predicted_on_top_of_each_other():
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True)
    rival = Person(np.array([0.6, 0.0]), np.array([0.1, 0.3]), 0.0)
    track.rivals = [rival]
    centre, half = np.array([0.0, 0.0]), np.array([0.1, 0.3])
    assert track.owns(centre, half, 0.0, image)  # the rival is far: a skeleton on the athlete's place is its
    assert not track.owns(np.array([0.6, 0.0]), half, 0.0, image)  # ... one on the rival's is not
    rival.centre = np.array([0.05, 0.0])
    assert not track.owns(centre, half, 0.0, image)  # on top of each other: neither


def test_owns_reads_the_athlete_in_front_of_a_clearly_smaller_rival():
    """Rule 28 (W): a rival on top of the athlete but clearly smaller (farther from the camera) is behind it, so a
    skeleton on the athlete's place is the athlete's; one on the rival's is still not, and a rival of the
    athlete's size (or one just under ``behind`` of it) still makes the two inseparable."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True)
    centre, half = np.array([0.0, 0.0]), np.array([0.1, 0.3])
    rival = Person(np.array([0.05, 0.0]), np.array([0.08, 0.24]), 0.0)  # 0.8 of the athlete's size, on top of it
    track.rivals = [rival]
    assert track.owns(centre, half, 0.0, image)
    assert not track.owns(np.array([0.05, 0.0]), np.array([0.08, 0.24]), 0.0, image)  # the rival's own skeleton
    rival.half = np.array([0.1, 0.3 * 0.95])  # 0.95 of the athlete's size: may be beside it, inseparable
    assert not track.owns(centre, half, 0.0, image)
    off = AthleteTrack((H, W), KeepOptions(behind=0.0))  # before session 60: every close rival is inseparable
    off.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True)
    off.rivals = [Person(np.array([0.05, 0.0]), np.array([0.08, 0.24]), 0.0)]
    assert not off.owns(centre, half, 0.0, image)


def test_an_owned_skeleton_in_front_of_a_rival_behind_moves_the_athletes_place_only():
    """Rule 30 (XB): in an ambiguous frame an owned, fairly sure skeleton moves the athlete's place (not its size
    or velocity) where every rival is behind it; beside a rival of its size, or not owned, the place holds."""
    def ambiguous_track(rival_half: list[float]) -> AthleteTrack:
        track = AthleteTrack((H, W))
        track.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True)
        track.ambiguous, track.rivals = True, [Person(np.array([0.05, 0.0]), np.array(rival_half), 0.0)]
        return track

    behind = ambiguous_track([0.08, 0.24])  # 0.8 of the athlete's size
    assert behind.update([0.2, 0.1], [0.3, 0.5], 0.04, True, False, owned=True) == 1
    np.testing.assert_allclose(behind.athlete.centre, [0.2, 0.1])
    np.testing.assert_allclose(behind.athlete.half, [0.1, 0.3])  # the merged peak's size is not learnt
    np.testing.assert_allclose(behind.athlete.velocity, [0.0, 0.0])
    assert behind.athlete.seen == 0.04
    beside = ambiguous_track([0.1, 0.3])  # the athlete's size: its depth order unknown
    beside.update([0.2, 0.1], [0.3, 0.5], 0.04, True, False, owned=True)
    np.testing.assert_allclose(beside.athlete.centre, [0.0, 0.0])
    unowned = ambiguous_track([0.08, 0.24])
    unowned.update([0.2, 0.1], [0.3, 0.5], 0.04, True, False)
    np.testing.assert_allclose(unowned.athlete.centre, [0.0, 0.0])
    assert unowned.athlete.seen == 0.0


def test_joint_matching_prefers_more_pairs_then_the_least_total_cost():
    inf = np.inf
    # greedy (cheapest pair first) would give track 0 candidate 0 and leave track 1 with nothing
    cost = np.array([[0.1, 0.5], [0.2, inf]])
    assert AthleteTrack._assign(cost) == [1, 0]
    # equal numbers of pairs: the lower sum wins over the cheapest single pair
    cost = np.array([[0.3, 1.0], [0.2, 2.0]])
    assert AthleteTrack._assign(cost) == [1, 0]  # 1.0 + 0.2 < 0.3 + 2.0
    assert AthleteTrack._assign(np.full((2, 1), inf)) == [-1]


def test_camera_motion_reads_a_pan_and_a_still_camera():
    from tvstream.camera_motion import CameraMotion, phase_shift, small_grey

    rng = np.random.default_rng(0)
    scene = (rng.random((300, 900, 3)) * 255).astype(np.uint8)
    view = lambda x: np.ascontiguousarray(scene[6:294, x:x + 512])  # noqa: E731
    assert phase_shift(small_grey(view(40)), small_grey(view(52))) == (-3, 0)  # 12 px pan right at 1/4 scale
    panning, still = CameraMotion(), CameraMotion()
    for i in range(30):
        panning.observe(view(10 + 6 * i))
        still.observe(view(10))
    assert panning.moving and not still.moving


def test_camera_motion_reads_a_pan_between_black_bars_from_the_picture_alone(tmp_path):
    """A portrait window of the panning sample clip, fitted between bars (tvstream.frame_fit): read with the bars,
    which never move, the pan looks still in most frames; read within the picture, in most frames it is a pan."""
    import av

    from tvstream.camera_motion import CameraMotion
    from tvstream.sources import VideoSource
    from tvstream.video_writer import VideoWriter

    sample = Path(__file__).resolve().parent.parent / "examples" / "sample_ski.mp4"
    with av.open(str(sample)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    x0 = (frames[0].shape[1] - 202) // 2
    with VideoWriter(str(tmp_path / "portrait.mp4"), 202, frames[0].shape[0], 25.0) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f[:, x0:x0 + 202]))
    with VideoSource(str(tmp_path / "portrait.mp4"), (288, 512)) as source:
        assert not source.fit.fills
        whole, picture = CameraMotion(), CameraMotion(picture=source.fit.picture)
        read = [(whole.observe(fr.image), picture.observe(fr.image)) for fr in source.frames()]
    share_whole, share_picture = np.mean(read[16:], axis=0)  # after the first window of comparisons
    assert share_picture > 0.5 > share_whole


@pytest.mark.parametrize("reach", [1.0, np.inf])
def test_an_unsure_read_away_from_the_athlete_keeps_its_id_but_not_its_place(reach):
    """A cyclist goes behind a van and the head reads a body beside it, unsure (under track_conf): that read keeps
    the id alive but leaves the track where the last read placed it, so the gate grows from there and the cyclist
    coming back is the athlete. With an unbounded reach (the run before session 49) the track moved onto the
    unsure read and the cyclist came back outside the gate."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W), KeepOptions(unsure_reach=reach))
    assert track.update([0.3, 0.0], [0.1, 0.3], 0.0, True, True, image, steady=True) == 1
    # 0.5 units = 32 px = 3 of the athlete's half-sizes (0.3 * 36 px) away: beyond the reach of 1
    assert track.update([-0.2, 0.0], [0.1, 0.3], 0.04, True, False, steady=False) == 1
    assert track.held(0.04)
    back = person(0.32, 0.0, 0.1, 0.3)
    if reach == 1.0:
        np.testing.assert_allclose(track.athlete.centre, [0.3, 0.0])
        assert track.athlete.seen == 0.0
        assert track.choose([back], 0.8, image) is back  # 0.12 half-sizes from where it was last placed
        # an unsure read within the reach moves the place (not the velocity)
        track.update([0.33, 0.0], [0.1, 0.3], 0.84, True, False, steady=False)
        np.testing.assert_allclose(track.athlete.centre, [0.33, 0.0])
        np.testing.assert_allclose(track.athlete.velocity, [0.0, 0.0])
    else:
        np.testing.assert_allclose(track.athlete.centre, [-0.2, 0.0])
        assert track.choose([back], 0.8, image) is None  # 3.1 half-sizes, the gate 1.5 x 1.76 = 2.6


def test_a_track_s_velocity_starts_at_its_first_steady_read_and_its_prediction_stays_in_the_frame():
    """An unsure frame places the athlete at the detector's box, a steady one at its joints: a box centre lower than
    the joints' must not read as motion (a cyclist standing still moved up at 2 frame-heights a second, and a crop
    placed on that prediction went on off the top of the frame)."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.0, 0.2], [0.1, 0.3], 0.0, True, False, image, steady=False)  # the box, lower than the joints
    for t in (0.04, 0.08, 0.12):
        track.update([0.0, 0.0], [0.1, 0.3], t, True, True, image, steady=True)
    np.testing.assert_allclose(track.athlete.velocity, [0.0, 0.0])
    moving = Person(np.array([0.9, -0.95]), np.array([0.1, 0.3]), 0.0, velocity=np.array([1.0, -1.0]))
    np.testing.assert_allclose(moving.predict(0.5, 1.0), [1.0, -1.0])  # not [1.4, -1.45]
    np.testing.assert_allclose(moving.predict(0.05, 1.0), [0.95, -1.0])


def test_the_athlete_size_is_not_learnt_from_a_peak_shared_with_someone():
    track = AthleteTrack((H, W))
    track.update([0.0, 0.0], [0.1, 0.3], 0.0, True, True)
    track.update([0.02, 0.0], [0.3, 0.5], 0.04, True, True, alone=False)  # a peak on two people: bigger
    np.testing.assert_allclose(track.athlete.half, [0.1, 0.3])
    np.testing.assert_allclose(track.athlete.centre, [0.02, 0.0])  # the place still follows


@pytest.mark.parametrize("kind, hidden_s", [("wall", 1.0), ("front", 0.0)])
def test_crossing_clips_hide_the_athlete_as_described(tmp_path, kind, hidden_s):
    """The benchmark's clips (train/synth/crossing.py), small: the wall hides the athlete fully for over a second;
    a passer-by's joints are written for every frame it is in."""
    pytest.importorskip("anny")
    from tvstream.labels import load_labels
    from train.synth.crossing import render_crossing

    clip = render_crossing(tmp_path, kind, 7, width=192, height=108)
    labels, passer = load_labels(clip.labels), np.load(clip.passer)
    hidden = ~labels.visible.any(axis=1)
    longest = max((len(run) for run in np.split(hidden, np.flatnonzero(np.diff(hidden.astype(int))) + 1) if run.all()),
                  default=0)
    if hidden_s:
        assert longest / 25.0 >= hidden_s and np.isnan(passer).all()
    else:
        assert longest == 0 and np.isfinite(passer).all(axis=(1, 2)).sum() > 60


def test_a_stale_track_does_not_take_the_athlete_s_own_peak_by_pushing_it_onto_a_faint_one(monkeypatch):
    """A panning ski clip: someone seen once, 0.36 s ago, down-left of the skier; now a second, fainter peak appears
    1.5 half-sizes to the skier's right. Matching as many pairs as possible would give the old track the skier's
    own peak and the skier the faint one (the skier was then lost for 2.4 s). The skier keeps its peak."""
    image = np.zeros((H, W, 3), np.uint8)

    def run() -> Candidate | None:
        track = AthleteTrack((H, W))
        for i in range(17):
            t = i / 25
            seen_once = [person(-0.42, 0.34, 0.18, 0.3, 12.0)] if i == 7 else []
            people = [person(-0.16, 0.05, 0.13, 0.35, 17.0), *seen_once]
            pick = track.choose(people, t, image)
            track.update(pick.centre, pick.half, t, True, True)
        now = [person(-0.18, 0.05, 0.13, 0.32, 17.9), person(0.14, 0.06, 0.11, 0.41, 9.3)]
        return track.choose(now, 17 / 25, image)

    assert run().centre[0] == pytest.approx(-0.18)
    monkeypatch.setattr(AthleteTrack, "_own_peak", lambda self, people, reach, t: None)
    assert run().centre[0] == pytest.approx(0.14)  # without the rule: pushed onto the faint peak


class StillScene:
    """A still athlete (left) and the detector's peaks of :meth:`peaks` at frame t, each ``(x, logit, half)`` on
    map row 4. The head reads the athlete surely (0.9) on any crop that holds it and is unsure (0.1) elsewhere;
    a detector frame's crop is its strongest peak."""

    athlete_x, y, half = cell_x(5), cell_y(4), np.array([0.15, 0.35])
    reach = 0.4  # a crop centred this near the athlete holds it

    def __init__(self) -> None:
        self.metadata = ModelMetadata(input_size=(H, W), outputs=("box", "pose3d", "pose2d", "conf", "detections"),
                                      inputs=("frames", "track"))
        self._t = 0

    def peaks(self, t: int) -> list[tuple[float, float, np.ndarray]]:
        raise NotImplementedError

    def run(self, n: int, keep: KeepOptions = KeepOptions(), **options) -> list:
        backend = self

        class Timed(FrameSource):
            def frames(self, stop=None):
                for t in range(n):
                    backend._t = t
                    yield Frame(t, t / 25, np.zeros((H, W, 3), np.uint8))

        return list(estimate(Timed([]), self, RunOptions(smooth=False, scenario="ski", keep=keep, **options)))

    def sure(self, t: int) -> float:
        return 0.9  # the head's confidence on a crop that holds the athlete

    def infer(self, frames, track=None):
        row, peaks = track[0], self.peaks(self._t)
        x, half = (row[1], row[3:5]) if row[0] == 1 else max(peaks, key=lambda p: p[1])[::2]
        half = np.max(half)  # (a peak's half is (x, y))
        on_athlete = abs(x - self.athlete_x) <= self.reach and half >= np.max(self.half) / 2  # it holds the athlete
        cx, h = (self.athlete_x, self.half) if on_athlete else (x, np.array([half, half]))
        lo = (np.array([cx, self.y]) - h + 1) * [W / 2, H / 2]
        hi = (np.array([cx, self.y]) + h + 1) * [W / 2, H / 2]
        m = np.zeros((3, MAP_H, MAP_W), np.float32)
        for px, logit, size in peaks:
            c = int(round(((px + 1) * MAP_W - 1) / 2))
            m[0, 4, c] = logit
            m[1:, 3:6, max(c - 1, 0):c + 2] = np.log(size)[:, None, None]
        return {"box": np.concatenate([lo, hi])[None].astype(np.float32), "pose3d": np.zeros((1, K, 3), np.float32),
                "pose2d": (lo + (hi - lo) * np.linspace(0.1, 0.9, K)[:, None])[None].astype(np.float32),
                "conf": np.full((1, K), self.sure(self._t) if on_athlete else 0.1, np.float32), "detections": m[None]}

    def on_athlete(self, record) -> bool:
        return abs(record.pose2d[:, 0].mean() - (self.athlete_x + 1) * W / 2) < 1.0


class SkierBesideAThing(StillScene):
    """For ten frames one wide peak spans the athlete and a thing beside it, nearer the thing (the two as one
    blob); then one peak each."""

    def peaks(self, t):
        if t < 10:
            return [(cell_x(8), 14.0, np.array([0.3, 0.35]))]
        return [(self.athlete_x, 12.0, self.half), (cell_x(10), 12.0, self.half)]


def test_a_sure_skeleton_places_the_athlete_where_the_detector_s_peak_spans_it_and_something_beside_it():
    """Session 31's ski clip: the athlete's track took its place from a peak spanning the skier and a thing
    beside it; when the two parted, the thing's peak was nearer that place and the run followed it. The sure
    skeleton (nobody else near) gives the track its centre, so the athlete's own peak is chosen."""
    scene = SkierBesideAThing()
    for r in scene.run(20):
        assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame


class FalsePeakBeside(StillScene):
    """From frame 5 the detector misses the athlete and sees a false peak two cells right of it (within its gate) and
    a bystander two cells beyond that; the head, following the athlete's joints, stays sure of it."""

    def peaks(self, t):
        if t < 5:
            return [(self.athlete_x, 13.0, self.half)]
        return [(cell_x(7), 12.0, self.half), (cell_x(9), 11.0, self.half)]


def test_every_sure_read_places_the_athlete_at_its_skeleton_not_at_a_false_peak_beside(monkeypatch):
    """A cyclist going behind a van kept sure reads while the only peak near it was a false one on the van, next to a
    bystander: with someone near that peak, the track took its place from the peak (only a sure read with nobody
    near placed it at the skeleton) and lost the cyclist; mixing the two places also made up a velocity (a
    cyclist standing still moved at 1.5 units a second). Every sure read places it at its skeleton."""
    placed = []
    update = AthleteTrack.update

    def spy(self, centre, half, t, detected, confident, *args, **kwargs):
        placed.append((np.array(centre, np.float64), kwargs.get("steady", True)))
        return update(self, centre, half, t, detected, confident, *args, **kwargs)

    monkeypatch.setattr(AthleteTrack, "update", spy)
    scene = FalsePeakBeside()
    records = scene.run(12, KeepOptions(select="first"))
    assert all(r.detected and r.track == 1 and scene.on_athlete(r) for r in records)
    assert all(steady for _, steady in placed)
    # the skeleton spans the athlete's box: its joints' centre is the athlete's (to a pixel, 1/64 of a unit), not
    # the false peak's (cell 7, 16 px to the right)
    np.testing.assert_allclose([c[0] for c, _ in placed], scene.athlete_x, atol=1 / 64)


class AthleteBesideATree(StillScene):
    """The detector sees a false peak far right of the athlete (a sunlit tree), outside its gate, and for 5 frames
    the athlete too; then the tree alone. The head reads the athlete at 0.7 (under track_conf: the detector places
    every crop) until frame ``gone``, when it leaves (0.1 there: nobody)."""

    gone = 1000

    def sure(self, t):
        return 0.7 if t < self.gone else 0.1

    def peaks(self, t):
        tree = (cell_x(13), 12.0, np.array([0.12, 0.3]))
        return [(self.athlete_x, 13.0, self.half), tree] if t < 5 else [tree]


@pytest.mark.parametrize("read_predicted", [True, False])
def test_a_held_athlete_none_of_the_detector_s_people_may_be_is_read_where_it_is_predicted(read_predicted):
    """Sports2D's clip (held out; a diagnosis): the box detector saw only a sunlit tree, the second look found the
    athlete, and every later frame was vetoed (the tree is not the athlete) without being read where the athlete
    stood, so it was lost until its track expired. A held athlete that none of the detector's people may be is read
    where it is predicted. False: the rule before session 50 (every frame after the fifth withheld)."""
    scene = AthleteBesideATree()
    records = scene.run(20, KeepOptions(read_predicted=read_predicted))
    assert all(r.detected and r.track == 1 and scene.on_athlete(r) for r in records[:5])
    if read_predicted:
        for r in records[5:]:
            assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame
    else:
        assert not any(r.detected for r in records[5:])


def test_an_unsure_read_where_the_athlete_was_predicted_does_not_hold_its_track_for_ever():
    """The athlete leaves (the head is unsure where it stood): those reads are withheld, its track expires after
    hold_s (2 s, 50 frames), and the false peak is then read as whoever it is: a new track."""
    scene = AthleteBesideATree()
    scene.gone = 10
    records = scene.run(70)
    assert all(r.detected and r.track == 1 for r in records[:10])
    assert not any(r.detected for r in records[10:60])
    assert {r.track for r in records[61:] if r.detected} == {2}


class AthleteBesideATreeWithoutConfidence(AthleteBesideATree):
    """As :class:`AthleteBesideATree`, from a model without per-joint confidence."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata = ModelMetadata(input_size=(H, W), outputs=("box", "pose3d", "pose2d", "detections"),
                                      inputs=("frames", "track"))

    def infer(self, frames, track=None):
        out = super().infer(frames, track)
        del out["conf"]
        return out


def test_a_model_without_confidence_is_not_read_where_the_athlete_is_predicted():
    """Nothing says how sure a read where the athlete is predicted would be: those frames stay withheld, as
    before session 50; and a track starting among two people does not ask the head whom it sees (it failed with
    a KeyError before)."""
    scene = AthleteBesideATreeWithoutConfidence()
    records = scene.run(12)
    assert all(r.detected and r.track == 1 for r in records[:5])
    assert not any(r.detected for r in records[5:])


class TreeAppearsAsTheAthleteVanishes(AthleteBesideATree):
    """As :class:`AthleteBesideATree`, but the tree's peak appears in the very frame the athlete's vanishes (a
    jump cut's shape, KeepOptions.jump), while the athlete stays where it was."""

    def peaks(self, t):
        return [(self.athlete_x, 13.0, self.half)] if t < 5 else super().peaks(t)


def test_an_athlete_read_surely_where_it_is_predicted_is_not_taken_for_a_jump_cut():
    """A false peak that appears as the athlete's own vanishes and stays 5 frames looks like a jump cut (the last
    athlete gone, the next elsewhere); but the athlete is read surely where it is predicted, so the track holds."""
    scene = TreeAppearsAsTheAthleteVanishes()
    for r in scene.run(20):
        assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame


class AthleteLosesItsPeak(StillScene):
    """A much bigger person stands four cells right of the athlete (its box reaches over the athlete); from frame
    10 the detector misses the athlete."""

    reach = 0.2  # a crop on the neighbour does not hold the athlete

    def peaks(self, t):
        other = (cell_x(9), 12.0, np.array([0.55, 0.6]))
        return [other] if t >= 10 else [(self.athlete_x, 13.0, self.half), other]


def test_a_followed_read_whose_joints_lie_where_the_athlete_is_predicted_is_not_vetoed_for_a_neighbour_s_peak():
    """Session 31's other ski clip: the detector lost the athlete's peak, and the followed crop's nearest peak was
    another track's, so the sure read on the athlete was withheld as "someone else". Its joints lie where the
    athlete is predicted, nearer than the neighbour's prediction: it is the athlete's."""
    scene = AthleteLosesItsPeak()
    for r in scene.run(20, KeepOptions(select="first")):
        assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame


class PeakOnTheLegs(StillScene):
    """From frame 10 the head is less sure of the athlete (0.7, under the tracker's 0.8) and the box detector's only
    peak is a small one on its legs: a detector frame's crop there does not hold the athlete."""

    def sure(self, t):
        return 0.9 if t < 10 else 0.7

    def peaks(self, t):
        return [(self.athlete_x, 12.0, self.half if t < 10 else np.array([0.05, 0.1]))]


def test_an_unsure_detector_frame_is_read_again_on_the_crop_the_last_read_s_joints_place():
    """Session 31's walker coming towards the camera: once its read dipped under the tracker's bar, every detector
    frame cropped the box detector's peak on its legs. The crop the last read's joints place holds the whole
    athlete, and the head is surer there: that read is kept."""
    scene = PeakOnTheLegs()
    records = scene.run(16)
    for r in records:
        assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame
        assert r.conf.mean() == pytest.approx(scene.sure(r.frame)), r.frame  # the read on the whole athlete
    for options in ({"hold_read": False}, {"reread": False}):  # off, and with the rereads (--no-second-look)
        unsure = [float(r.conf.mean()) for r in PeakOnTheLegs().run(16, **options)[11:]]
        assert unsure == pytest.approx([0.1] * 5), options  # the legs' crop, read once


def test_the_held_read_costs_no_call_where_its_crop_overlaps_the_kept_one_and_is_kept_only_where_surer():
    from tvstream.pipeline import _held_read

    class Head:
        calls = 0

        def infer(self, frames, track=None):
            Head.calls += 1
            return {"conf": np.full((1, K), 0.6, np.float32)}

    frame = Frame(0, 0.0, np.zeros((H, W, 3), np.uint8))
    row = np.array([1.0, 0.0, 0.0, 0.2, 0.4], np.float32)
    # the kept crop is the same box shifted by a tenth of its width: IoU 0.82, no read
    assert _held_read(Head(), frame, row, 0.1, (np.array([0.04, 0.0]), np.array([0.2, 0.4]))) is None
    assert Head.calls == 0
    elsewhere = (np.array([0.5, 0.0]), np.array([0.2, 0.4]))  # no overlap
    assert _held_read(Head(), frame, row, 0.1, elsewhere)["conf"][0, 0] == pytest.approx(0.6)  # surer: kept
    assert _held_read(Head(), frame, row, 0.7, elsewhere) is None  # less sure than the kept read
    assert Head.calls == 2


class FalsePeakBiggerThanTheAthlete(StillScene):
    """A false peak on the background, bigger than the athlete and far from it, from the first frame on."""

    def peaks(self, t):
        return [(self.athlete_x, 13.0, self.half), (cell_x(13), 9.3, np.array([0.3, 0.6]))]


def test_the_track_starts_on_a_person_the_head_sees_not_on_a_bigger_false_peak(monkeypatch):
    """Session 31's studio clip: `--select largest` started the athlete on a false peak twice the walker's size,
    read at 0.09, and the walker's sure reads were vetoed for the whole clip. The head reads the other person at
    the start; the track starts there, and the false peak is someone else's."""
    import tvstream.pipeline as pipeline

    scene = FalsePeakBiggerThanTheAthlete()
    for r in scene.run(12):
        assert r.detected and r.track == 1 and scene.on_athlete(r), r.frame
    monkeypatch.setattr(pipeline, "_start_on_someone_seen", lambda *a, **k: None)
    old = FalsePeakBiggerThanTheAthlete()  # the old start: the false peak reported, the athlete never
    assert not any(r.detected and old.on_athlete(r) for r in old.run(12))


def test_start_on_swaps_the_chosen_person_for_the_one_the_head_saw():
    track = AthleteTrack((H, W))
    image = np.zeros((H, W, 3), np.uint8)
    seen, chosen = person(-0.3, 0.0, 0.1, 0.3, 13.0), person(0.6, 0.0, 0.3, 0.6, 9.3)
    assert track.choose([seen, chosen], 0.0, image) is chosen  # the largest
    assert [o.centre.tolist() for o in track.others] == [[-0.3, 0.0]]
    track.start_on(seen, chosen, 0.0)
    assert [o.centre.tolist() for o in track.others] == [[0.6, 0.0]]
    track.start_on(seen, person(0.2, 0.0, 0.1, 0.1, 5.0), 0.0)  # a faint peak gets no track of its own
    assert [o.centre.tolist() for o in track.others] == [[0.6, 0.0]]


def _follow(track: AthleteTrack, who: Candidate, frames: range, image: np.ndarray, others=()) -> None:
    for i in frames:
        pick = track.choose([who, *others], i / 25, image)
        assert pick is who, i
        track.update(pick.centre, pick.half, i / 25, True, True, image)


@pytest.mark.parametrize("jump", [5, 0])
def test_a_jump_cut_in_one_camera_makes_the_next_athlete_the_athlete_after_five_frames(jump):
    """One fixed camera's takes joined: the athlete gone at frame 10, the next one elsewhere in that same frame. It
    is the athlete (a new id) at its 5th frame, where the hold had kept the gone one for 2 s (jump=0: as before)."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W), KeepOptions(jump=jump))
    first, nxt = person(-0.6, 0.1, 0.1, 0.3, 12.0), person(0.6, 0.0, 0.1, 0.3, 12.0)
    track.update(first.centre, first.half, 0.0, True, True, image)
    _follow(track, first, range(1, 10), image)
    picks = [track.choose([nxt], i / 25, image) for i in range(10, 15)]
    if jump:
        assert picks == [None] * 4 + [nxt]
        assert track.update(nxt.centre, nxt.half, 14 / 25, True, True, image) == 2
        _follow(track, nxt, range(15, 20), image)
        assert track.track_id == 2
    else:
        assert picks == [None] * 5 and track.held(14 / 25) and track.track_id == 1


def test_someone_seen_before_the_athlete_vanished_or_after_it_never_takes_its_place():
    """A coach standing by since the start, and a person who walks in a frame after the athlete went behind a wall:
    neither is a jump cut. The athlete comes back within the hold with its id."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    athlete, coach, late = (person(-0.6, 0.1, 0.1, 0.3, 12.0), person(0.6, 0.0, 0.1, 0.3, 12.0),
                            person(0.1, -0.2, 0.1, 0.3, 12.0))
    track.update(athlete.centre, athlete.half, 0.0, True, True, image)
    _follow(track, athlete, range(1, 10), image, others=[coach])
    assert [track.choose([coach], 10 / 25, image)] == [None]  # hidden: only the coach is seen
    assert [track.choose([coach, late], i / 25, image) for i in range(11, 30)] == [None] * 19
    _follow(track, athlete, range(30, 35), image, others=[coach, late])
    assert track.track_id == 1


def test_a_newcomer_missed_for_one_frame_is_no_jump_cut():
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    first, nxt = person(-0.6, 0.1, 0.1, 0.3, 12.0), person(0.6, 0.0, 0.1, 0.3, 12.0)
    track.update(first.centre, first.half, 0.0, True, True, image)
    _follow(track, first, range(1, 10), image)
    seen = [[nxt], [nxt], [], [nxt], [nxt], [nxt], [nxt], [nxt]]
    assert [track.choose(p, (10 + i) / 25, image) for i, p in enumerate(seen)] == [None] * 8
    assert track.track_id == 1


def test_a_followed_crop_on_nobody_is_read_again_on_the_athlete_s_own_peak_and_the_surer_read_kept():
    """Session 58's two_10 (s58_rule20.md): the track started on a person the box detector then misses, and its
    only peak, the athlete's now, lies 1.5 of its half-sizes from the followed crop. The frame is read again on
    that peak (cropped as every athlete crop is) and the read the head is surer of is kept; a peak within one
    half-size of the crop costs no read."""
    from tvstream.pipeline import _crop_on_athlete

    class Head:
        def __init__(self, sure: float) -> None:
            self.sure, self.rows = sure, []

        def infer(self, frames, track=None):
            self.rows.append(track[0].copy())
            return {"box": np.zeros((1, 4), np.float32), "conf": np.full((1, K), self.sure, np.float32)}

    image = np.zeros((H, W, 3), np.uint8)
    frame, frame_wh = Frame(1, 0.04, image), np.array([W, H], np.float64)

    def followed(crop_x: float, sure: float) -> tuple[dict, Head]:
        athlete = AthleteTrack((H, W))
        athlete.update([cell_x(5), cell_y(4)], [0.2, 0.4], 0.0, True, True, image)
        lo, hi = (np.array([crop_x, cell_y(4)]) - [0.2, 0.4] + 1) * frame_wh / 2, \
            (np.array([crop_x, cell_y(4)]) + [0.2, 0.4] + 1) * frame_wh / 2
        out = {"box": np.concatenate([lo, hi])[None].astype(np.float32), "conf": np.full((1, K), 0.5, np.float32),
               "detections": two_peak_map(cells=((4, 5),), logits=(14.0,), halves=((0.2, 0.4),))[None]}
        head = Head(sure)
        got, vetoed, pick, clear = _crop_on_athlete(head, out, np.array([1, crop_x, cell_y(4), 0.2, 0.4]),
                                                    athlete, frame, frame_wh)
        assert not vetoed and clear and pick is not None
        np.testing.assert_allclose(pick.centre, [cell_x(5), cell_y(4)], atol=1e-6)
        return got, head

    far = cell_x(5) + 0.3  # 1.5 of the peak's half-widths (0.2) from it
    got, head = followed(far, 0.9)
    assert got["conf"][0, 0] == pytest.approx(0.9) and len(head.rows) == 1  # surer on the athlete's peak: kept
    np.testing.assert_allclose(head.rows[0][1:3], [cell_x(5), cell_y(4)], atol=1e-6)
    got, head = followed(far, 0.3)
    assert got["conf"][0, 0] == pytest.approx(0.5) and len(head.rows) == 1  # less sure there: the followed read
    got, head = followed(cell_x(5) + 0.15, 0.9)  # 0.75 of a half-width: the crop is on the athlete, no read
    assert got["conf"][0, 0] == pytest.approx(0.5) and head.rows == []


@pytest.mark.parametrize("last_sure, joints_given, kept", [(0.9, True, True), (0.9, False, False),
                                                            (0.3, True, False)])
def test_a_lost_athlete_is_read_on_its_last_sure_skeleton_where_its_prediction_is_unsure(last_sure, joints_given,
                                                                                         kept):
    """Session 59's small walker (s59_rule23.md): the detector sees only a false peak, the read where the athlete's
    track predicts it is unsure (the track had not kept up), and the frame was withheld though the last frame's sure
    skeleton, a cell further on, was a better guess. That crop is read too (when its read was >= HELD_READ_CONF) and
    the surer read is the athlete's; without it, or after an unsure last read, the frame stays vetoed."""
    from tvstream.pipeline import _crop_on_athlete
    from tvstream.tracking import JointTracker

    there = np.array([cell_x(6), cell_y(4)])  # where the athlete is now (the track predicts cell 5)

    class Head:  # sure on a crop centred within 0.05 of where the athlete is, unsure elsewhere
        def __init__(self) -> None:
            self.rows = []

        def infer(self, frames, track=None):
            row = track[0]
            self.rows.append(row.copy())
            on = np.abs(row[1:3] - there).max() < 0.05
            centre = (row[1:3] + 1) * np.array([W, H]) / 2  # model pixels
            pose2d = centre + np.linspace(-4, 4, K)[:, None]
            return {"box": np.zeros((1, 4), np.float32), "pose2d": pose2d[None].astype(np.float32),
                    "conf": np.full((1, K), 0.9 if on else 0.1, np.float32)}

    image = np.zeros((H, W, 3), np.uint8)
    athlete = AthleteTrack((H, W))
    athlete.update([cell_x(5), cell_y(4)], [0.2, 0.4], 0.0, True, True, image)
    joints = JointTracker((H, W))
    last = (there + 1) * np.array([W, H]) / 2 + np.linspace(-4, 4, K)[:, None]  # the last read, centred there
    joints.update(last, np.full(K, last_sure), True)
    tree = two_peak_map(cells=((4, 13),), logits=(14.0,), halves=((0.12, 0.3),))[None]  # outside the gate
    out = {"box": np.zeros((1, 4), np.float32), "pose2d": np.zeros((1, K, 2), np.float32),
           "conf": np.full((1, K), 0.1, np.float32), "detections": tree}
    head = Head()
    got, vetoed, pick, _ = _crop_on_athlete(head, out, np.zeros(5), athlete, Frame(1, 0.04, image),
                                            np.array([W, H], np.float64), joints if joints_given else None)
    assert pick is None and vetoed is not kept
    np.testing.assert_allclose(head.rows[0][1:3], [cell_x(5), cell_y(4)], atol=1e-6)  # first: where predicted
    assert len(head.rows) == (2 if joints_given and last_sure >= 0.5 else 1)
    assert got["conf"][0, 0] == pytest.approx(0.9 if kept else 0.1)


def test_a_skeleton_is_claimed_by_the_track_predicted_nearest_it_in_pixels():
    """small_2 again: a false peak's track four times the athlete's size claimed the athlete's sure skeleton, 0.52 of
    its half-sizes away against 0.67 of the athlete's, though 7 times farther in pixels. Distances are compared in
    pixels (the skeleton must still lie within ``reshape`` of the athlete's half-sizes)."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.0, 0.0], [0.05, 0.1], 0.0, True, True, image)  # the athlete: 3.6 px half-height
    track.others.append(Person(np.array([0.0, 0.5]), np.array([0.4, 0.8]), 0.0))  # a big false box below it
    # 2.2 px (0.6 of the athlete's half-sizes) from the athlete, 15.8 px (0.55 of the big box's) from the other
    assert track.may_be(np.array([0.0, 0.06]), 0.04)
    track.others.append(Person(np.array([0.06, 0.06]), np.array([0.05, 0.1]), 0.0))  # someone nearer it
    assert not track.may_be(np.array([0.04, 0.06]), 0.04)  # 2.6 px from the athlete, 1.3 px from them
    assert not track.may_be(np.array([0.0, 0.2]), 0.04)  # 7.2 px: 2 of the athlete's half-sizes, beyond reshape


class WalkerPastATree(AthleteBesideATree):
    """As :class:`AthleteBesideATree` (the detector sees the athlete for 5 frames, then only a tree outside its
    gate; the head reads the athlete 0.7 sure, under track_conf), but the athlete walks right 0.01 units a frame and
    the model's box is its crop's, wherever that is (a real head's box is where it looked)."""

    @property
    def athlete_x(self) -> float:
        return cell_x(5) + 0.01 * self._t

    def infer(self, frames, track=None):
        out = super().infer(frames, track)
        row = track[0]
        if row[0] == 1:  # the crop's own box, not the athlete's
            lo, hi = (row[1:3] - row[3:5] + 1) * [W / 2, H / 2], (row[1:3] + row[3:5] + 1) * [W / 2, H / 2]
            out["box"] = np.concatenate([lo, hi])[None].astype(np.float32)
        return out


def test_a_read_on_a_crop_of_its_own_places_the_athlete_at_its_skeleton_not_at_the_crop(monkeypatch):
    """Session 59's small walker (s59_rule24.md): a read cropped where the athlete is predicted placed the athlete
    at that crop's centre, so the next read was cropped there again and the crop stood still while the athlete
    walked out of it. A read at least SECOND_LOOK_CONF sure places it at its skeleton."""
    placed = {}
    update = AthleteTrack.update

    def spy(self, centre, half, t, *args, **kwargs):
        placed[round(t * 25)] = float(centre[0])
        return update(self, centre, half, t, *args, **kwargs)

    monkeypatch.setattr(AthleteTrack, "update", spy)
    scene = WalkerPastATree()
    records = scene.run(20)
    assert all(r.detected and r.track == 1 for r in records)
    for t in range(5, 20):  # read where predicted (no peak on it): placed where its skeleton is, to a pixel
        assert placed[t] == pytest.approx(cell_x(5) + 0.01 * t, abs=1 / 64), t


def test_an_unsure_read_on_the_athlete_s_own_clear_peak_moves_its_place_however_far():
    """Session 59's pillar_123 (s59_rule26.md): the athlete came out from behind a pillar 3 half-sizes from where its
    track was, on its own peak with nobody near, read 0.73-0.79 sure (under the model's 0.98): held to unsure_reach,
    the track stayed behind the pillar and the athlete's peak left its gate two frames later. Such a read (``own``)
    moves the place, not the velocity or the size."""
    image = np.zeros((H, W, 3), np.uint8)
    track = AthleteTrack((H, W))
    track.update([0.3, 0.0], [0.1, 0.3], 0.0, True, True, image, steady=True)
    assert track.update([-0.2, 0.0], [0.2, 0.4], 0.04, True, False, steady=False, own=True) == 1  # 3 half-sizes
    np.testing.assert_allclose(track.athlete.centre, [-0.2, 0.0])
    np.testing.assert_allclose(track.athlete.half, [0.1, 0.3])  # the size is not learnt
    np.testing.assert_allclose(track.athlete.velocity, [0.0, 0.0])
    assert track.athlete.seen == pytest.approx(0.04)


@pytest.mark.parametrize("select, other_sure, moves", [("largest", 0.9, True), ("first", 0.9, False),
                                                       ("largest", 0.3, False)])
def test_a_track_starts_on_the_person_the_policy_takes_among_the_skeletons_the_head_reads(select, other_sure, moves):
    """Session 59's two_11 (s59_rule27.md): MediaPipe's whole box on the farther person beat the nearer person's two
    half-body peaks under --select largest, and the head read the farther one surely, so the track stayed there.
    Where the chosen person's read is sure, up to two others are read and the policy judges the sure reads'
    skeletons: the nearer person's is bigger. 'first' keeps the strongest; an unsure read is no candidate."""
    from tvstream.pipeline import _start_on_someone_seen

    far, near = person(0.6, 0.0, 0.15, 0.35, 14.0), person(-0.4, 0.0, 0.1, 0.2, 12.0)  # boxes: far's is bigger

    class Head:  # the far person's skeleton spans 10 x 20 px, the near one's 20 x 40 px
        def infer(self, frames, track=None):
            on_near = abs(track[0][1] - near.centre[0]) < 0.05
            centre = (track[0][1:3] + 1) * np.array([W, H]) / 2
            size = np.array([20.0, 40.0]) if on_near else np.array([10.0, 20.0])
            pose2d = centre + np.linspace(-0.5, 0.5, K)[:, None] * size
            return {"pose2d": pose2d[None].astype(np.float32),
                    "conf": np.full((1, K), other_sure if on_near else 0.9, np.float32)}

    image = np.zeros((H, W, 3), np.uint8)
    athlete = AthleteTrack((H, W), KeepOptions(select=select))
    assert athlete.choose([far, near], 0.0, image) is far  # both policies take the far person's box
    first = Head().infer(None, far.track_row()[None])
    got = _start_on_someone_seen(Head(), first, far, [far, near], athlete, Frame(0, 0.0, image),
                                 np.array([W, H], np.float64))
    if moves:
        assert got is not None and got[1] is near
        assert got[0]["conf"][0, 0] == pytest.approx(0.9)
    else:
        assert got is None
