"""`tvstream run --camera / --fov`: the header's camera, each line's root, speed and height, and bad camera files."""

import json
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from tvstream.errors import ExitStatus
from tvstream.output_schema import output_schema
from tvstream.root_position import solve_root

K = [[150.0, 0, 63.5], [0, 150.0, 35.5], [0, 0, 1]]
GROUND = {"normal": [0, -1, 0], "point": [0, 1600, 0]}


@pytest.fixture(scope="module")
def posenet(tmp_path_factory):
    """A tiny pose network (frames + track in, conf out, 72 x 128) and a 30-frame clip at its size."""
    from tiny_model import export_tiny_posenet
    from train.data.pattern_video import write_pattern_video

    root = tmp_path_factory.mktemp("posenet")
    return export_tiny_posenet(root), write_pattern_video(root / "clip.mp4", 30, width=128, height=72)


def tvstream(*args):
    return subprocess.run([sys.executable, "-m", "tvstream", *map(str, args)], capture_output=True, timeout=300)


def read_lines(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    return lines[0], lines[1:-1]


def test_run_with_a_camera_file_writes_the_solved_root_speed_and_height(posenet, tmp_path):
    model, clip = posenet
    (tmp_path / "cam.json").write_text(json.dumps({"K": K, "width": 128, "height": 72, "ground": GROUND}))
    out = tvstream("run", clip, "--model", model, "--out", tmp_path / "poses.jsonl", "--scenario", "ski",
                   "--camera", tmp_path / "cam.json", "--no-smooth")
    assert out.returncode == 0, out.stderr.decode()
    header, poses = read_lines(tmp_path / "poses.jsonl")
    assert header["camera"]["intrinsics"] == "file" and header["camera"]["K"] == K
    assert header["camera"]["ground"] == GROUND and header["camera"]["file"] == str(tmp_path / "cam.json")
    assert all({"root", "speed", "height"} <= set(p) for p in poses)
    roots = [p for p in poses if p["root"] is not None]
    assert roots and all(p["detected"] for p in roots)
    for prev, p in zip([None, *poses], poses):
        if p["root"] is None:
            assert p["speed"] is None and p["height"] is None
            continue
        assert p["height"] == pytest.approx(1600 - p["root"][1], abs=0.11)
        if prev is not None and prev["root"] is not None:
            step = np.linalg.norm(np.subtract(p["root"], prev["root"])) / (p["t"] - prev["t"])
            assert p["speed"] == pytest.approx(step, rel=1e-3, abs=5.0)


def test_unsmoothed_roots_are_the_solvers_on_each_frames_pose(posenet):
    from tvstream.api import open_model
    from tvstream.camera import scene_camera
    from tvstream.pipeline import RunOptions, estimate
    from tvstream.sources import VideoSource

    model, clip = posenet
    engine, _ = open_model(model, "onnxruntime")
    with VideoSource(str(clip), engine.metadata.input_size) as src:
        camera = scene_camera(src.width, src.height, fov=70.0)
        records = list(estimate(src, engine, RunOptions(smooth=False, scenario="ski"), camera=camera))
    engine.close()
    solved = 0
    for r in records:
        T = solve_root(r.pose3d, r.pose2d, camera.K, r.conf) if r.detected else None
        assert (T is None) == (r.root.position is None) and not r.root.ground
        if T is not None:
            solved += 1
            np.testing.assert_allclose(r.root.position, T)
    assert solved > 0


def test_run_says_when_the_field_of_view_is_assumed_or_given(posenet, tmp_path):
    model, clip = posenet
    for flags, kind, fov in (((), "assumed", 60.0), (("--fov", "90"), "fov", 90.0)):
        out = tvstream("run", clip, "--model", model, "--out", tmp_path / "p.jsonl", *flags)
        assert out.returncode == 0, out.stderr.decode()
        header, poses = read_lines(tmp_path / "p.jsonl")
        assert header["camera"]["intrinsics"] == kind and header["camera"]["hfov_deg"] == pytest.approx(fov)
        assert "ground" not in header["camera"] and not any("height" in p for p in poses)


def test_bad_camera_options_are_one_line_and_an_exit_code(posenet, tmp_path):
    model, clip = posenet
    (tmp_path / "bad.json").write_text(json.dumps({"K": [[0, 0, 64], [0, 150, 36], [0, 0, 1]]}))
    for args, code, text in (
        (("--camera", tmp_path / "bad.json"), ExitStatus.BAD_INPUT, "positive focal lengths"),
        (("--camera", tmp_path / "absent.json"), ExitStatus.BAD_INPUT, "no such camera file"),
        (("--camera", tmp_path / "bad.json", "--fov", "50"), ExitStatus.USAGE, "not both"),
        (("--fov", "0"), ExitStatus.USAGE, "--fov"),
    ):
        out = tvstream("run", clip, "--model", model, "--out", tmp_path / "p.jsonl", *args)
        err = out.stderr.decode()
        assert out.returncode == code and text in err, err
        assert "Traceback" not in err
