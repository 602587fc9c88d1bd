"""benchmarks.small_person: the scoring on hand-made skeletons and boxes, and a made clip's person and frames."""

import json

import av
import numpy as np
import pytest

from benchmarks.small_person import ENTER_EVERY, HEIGHT, SIZE, make_clip, score_frames


def test_frames_out_of_view_are_not_scored_and_a_frame_not_reported_counts_zero():
    box = [0, 0, 10, 20]
    whole = np.array([[0, 0], [10, 20], [5, 10.]])  # extent = the box: IoU 1
    half = np.array([[0, 0], [5, 20.]])  # half the box: IoU 0.5
    sliver = np.array([[0, 0], [2, 20.]])  # a fifth: IoU 0.2, reported but not found
    frames = score_frames([whole, half, sliver, None, whole], [box, box, box, box, None])
    assert frames == {"in_view": 4, "reported": 3, "found": 2, "iou": pytest.approx((1 + 0.5 + 0.2 + 0) / 4)}
    assert score_frames([whole, None], [None, None]) == {"in_view": 0, "reported": 0, "found": 0, "iou": 0.0}


def test_a_made_clip_has_one_small_person_walking_across_and_every_fourth_walks_in(tmp_path, one_cutout):
    people, backgrounds = one_cutout
    for seed in (0, ENTER_EVERY - 1):
        video = tmp_path / f"small_{seed}.mp4"
        record = make_clip(video, seed, people, backgrounds, frames=6)
        json.dumps(record)  # the record is plain JSON
        assert record["size"] == list(SIZE) and record["person"] == "ann1"
        seen = [b for b in record["boxes"] if b is not None]
        tall = np.array([b[3] - b[1] for b in seen])
        assert (HEIGHT[0] * SIZE[1] - 2 <= tall).all() and (tall <= HEIGHT[1] * SIZE[1] + 2).all()
        mid = [(b[0] + b[2]) / 2 for b in seen]
        assert abs(mid[-1] - mid[0]) >= 0.25 * SIZE[0]  # it walks across
        if seed == ENTER_EVERY - 1:  # starts outside the frame: its first frames are not in view
            assert record["boxes"][0] is None and record["boxes"][-1] is not None
        else:
            assert len(seen) == 6
        with av.open(str(video)) as container:
            shapes = [f.to_ndarray(format="rgb24").shape for f in container.decode(video=0)]
        assert shapes == [(SIZE[1], SIZE[0], 3)] * 6
