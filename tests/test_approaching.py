"""benchmarks.approaching: a made clip's person grows from a fifth of the frame's height to most of it."""

import json

import av
import numpy as np

from benchmarks.approaching import HEIGHT, SIZE, make_clip


def test_a_made_clip_has_one_person_growing_towards_the_camera(tmp_path, one_cutout):
    people, backgrounds = one_cutout
    video = tmp_path / "approaching_0.mp4"
    record = make_clip(video, 0, people, backgrounds, frames=6)
    json.dumps(record)  # the record is plain JSON
    assert record["size"] == list(SIZE) and record["person"] == "ann1"
    tall = np.array([b[3] - b[1] for b in record["boxes"]])
    assert abs(tall[0] - HEIGHT[0] * SIZE[1]) <= 3 and abs(tall[-1] - HEIGHT[1] * SIZE[1]) <= 3
    assert (np.diff(tall) > 0).all()  # it comes closer in every frame
    assert all(0 <= b[0] < b[2] <= SIZE[0] and 0 <= b[1] < b[3] <= SIZE[1] for b in record["boxes"])  # in view
    with av.open(str(video)) as container:
        shapes = [f.to_ndarray(format="rgb24").shape for f in container.decode(video=0)]
    assert shapes == [(SIZE[1], SIZE[0], 3)] * 6
