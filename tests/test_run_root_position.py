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


def test_pose_lines_write_root_speed_and_height_rounded_and_null_when_not_detected():
    from tvstream.root_position import RootEstimate
    from tvstream.sinks import pose_line

    args = dict(frame=3, t=0.12, score=1.0, box=np.zeros(4), pose3d=np.zeros((17, 3)), pose2d=np.zeros((17, 2)),
                latency_ms=1.0)
    est = RootEstimate(position=np.array([12.345, -6.78, 9876.54]), speed=1234.56, height=901.23, ground=True)
    line = pose_line(detected=True, root=est, **args)
    assert (line["root"], line["speed"], line["height"]) == ([12.3, -6.8, 9876.5], 1234.6, 901.2)
    assert "height" not in pose_line(detected=True, root=RootEstimate(position=est.position), **args)
    lost = pose_line(detected=False, root=RootEstimate(ground=True), **args)
    assert (lost["root"], lost["speed"], lost["height"]) == (None, None, None)
    assert not {"root", "speed", "height"} & set(pose_line(detected=True, **args))  # callers without a root


def test_the_schema_documents_the_camera_and_root_fields():
    from tvstream.camera import GroundPlane, scene_camera

    validator = jsonschema.Draft202012Validator(output_schema())
    header = {"type": "header", "schema": output_schema()["$defs"]["header"]["properties"]["schema"]["const"],
              "model": {"name": "m"}, "joints": ["hip"], "units": "mm",
              "source": {"uri": "a.mp4", "width": 640, "height": 360, "fps": 25.0}}
    camera = scene_camera(640, 360).to_dict()
    validator.validate({**header, "camera": camera})
    floor = GroundPlane(normal=np.array([0.0, -1, 0]), point=np.array([0.0, 1600, 0]))
    validator.validate({**header, "camera": {**camera, "intrinsics": "file", "file": "c.json",
                                             "calibrated_size": [1920, 1080], "ground": floor.to_dict()}})
    assert not validator.is_valid({**header, "camera": {**camera, "intrinsics": "guessed"}})
    pose = {"type": "pose", "frame": 0, "t": 0.0, "detected": True, "score": 1.0, "box": [0, 0, 1, 1],
            "pose3d": [[0.0, 0.0, 0.0]], "pose2d": [[0.0, 0.0]], "shot": 0, "latency_ms": 1.0}
    validator.validate({**pose, "root": [1.0, 2.0, 9000.0], "speed": 1200.0, "height": 950.0})
    validator.validate({**pose, "root": None, "speed": None, "height": None})
    assert not validator.is_valid({**pose, "root": [1.0, 2.0]})
    assert not validator.is_valid({**pose, "speed": -1.0})


def test_a_dive_run_takes_the_roots_scale_from_the_skeleton_alone(posenet, tmp_path):
    from tvstream.api import open_model
    from tvstream.camera import load_camera_file, scene_camera
    from tvstream.pipeline import RunOptions, estimate
    from tvstream.sources import VideoSource

    model, clip = posenet
    (tmp_path / "cam.json").write_text(json.dumps({"K": K, "width": 128, "height": 72, "ground": GROUND}))
    engine, _ = open_model(model, "onnxruntime")
    moved = {}
    for scenario in ("dive", "ski"):
        with VideoSource(str(clip), engine.metadata.input_size) as src:
            camera = scene_camera(src.width, src.height, load_camera_file(tmp_path / "cam.json"))
            records = list(estimate(src, engine, RunOptions(smooth=False, scenario=scenario), camera=camera))
        solved = [(r, solve_root(r.pose3d, r.pose2d, camera.K, r.conf)) for r in records if r.root.position is not None]
        assert solved and all(r.root.height is not None for r, _ in solved)  # height above the floor either way
        moved[scenario] = max(float(np.abs(r.root.position - T).max()) for r, T in solved)
    engine.close()
    assert moved["dive"] < 1e-6 < moved["ski"]  # a diver is in the air: the floor does not rescale the skeleton
