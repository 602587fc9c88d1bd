"""benchmarks.two_people: the scoring on hand-made skeletons and boxes, and a made clip's people and frames."""

import json

import av
import numpy as np
import pytest
from PIL import Image

from benchmarks.two_people import make_clip, score_frames, standing


def test_each_reported_skeleton_is_on_the_box_it_overlaps_more():
    athlete, other = [0, 0, 10, 20], [30, 0, 40, 20]
    on_athlete = np.array([[0, 0], [10, 20], [5, 10.]])  # extent = the athlete's box: IoU 1
    on_other = np.array([[30, 0], [40, 10.]])  # half the other's box, nothing of the athlete's
    half_each = np.array([[5, 0], [35, 20.]])  # extent [5, 0, 35, 20]: IoU 100/700 with each
    frames = score_frames([on_athlete, on_other, None, half_each], [(athlete, other)] * 4)
    assert frames == {"frames": 4, "reported": 3, "on_athlete": 2, "on_other": 1,
                      "iou_athlete": pytest.approx((1 + 0 + 0 + 1 / 7) / 4)}  # a tie is the athlete's
    assert score_frames([None, None], [(athlete, other)] * 2) == {"frames": 2, "reported": 0, "on_athlete": 0,
                                                               "on_other": 0, "iou_athlete": 0.0}
    assert score_frames([], [])["iou_athlete"] == 0.0


def _cutout(path, height, width):
    rgba = np.zeros((height + 4, width + 4, 4), np.uint8)
    rgba[2:-2, 2:-2] = (200, 60, 40, 255)
    Image.fromarray(rgba).save(path)
    return path


def test_a_made_clip_has_two_standing_people_crossing_the_nearer_taller(tmp_path):
    people = [_cutout(tmp_path / "ann1.png", 120, 40), _cutout(tmp_path / "ann2.png", 120, 50),
              _cutout(tmp_path / "bob1.png", 110, 45), _cutout(tmp_path / "cal1.png", 60, 80)]
    assert standing(people) == people[:3]  # cal (wider than half its height) sits
    background = tmp_path / "plate.png"
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(background)
    for seed, size in ((0, [360, 640]), (1, [640, 360])):
        video = tmp_path / f"two_{seed}.mp4"
        record = make_clip(video, seed, standing(people), [background], frames=6)
        assert record["size"] == size
        assert {record["athlete"][:3], record["other"][:3]} == {"ann", "bob"}  # two people; cal sits
        boxes = np.asarray(record["boxes"])  # (frames, 2, 4)
        assert boxes.shape == (6, 2, 4)
        tall = boxes[..., 3] - boxes[..., 1]
        assert (tall[:, 0] > tall[:, 1]).all()  # the athlete is nearer: taller
        assert 0.6 * size[1] - 2 <= tall[0, 0] <= 0.75 * size[1] + 2
        gap = (boxes[:, 0, 0] + boxes[:, 0, 2]) / 2 - (boxes[:, 1, 0] + boxes[:, 1, 2]) / 2
        assert np.sign(gap[0]) == -np.sign(gap[-1])  # they walk past each other
        json.dumps(record)  # the record is plain JSON

        with av.open(str(video)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(decoded) == 6 and decoded[0].shape == (size[1], size[0], 3)
