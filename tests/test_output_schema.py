import copy

import jsonschema
import pytest

from tvstream.output_schema import POSE_SCHEMA_ID, output_schema
from tvstream.skeleton import JOINT_NAMES

HEADER = {"type": "header", "schema": POSE_SCHEMA_ID, "model": {"name": "default", "hash": "abc"},
          "joints": list(JOINT_NAMES), "units": "mm",
          "source": {"uri": "camera.mp4", "width": 1920, "height": 1080, "fps": 50.0}}
POSE = {"type": "pose", "frame": 0, "t": 0.0, "detected": True, "score": 0.97, "box": [10, 20, 300, 700],
        "pose3d": [[0.0, 0.0, 0.0]] * 17, "pose2d": [[100.5, 200.0]] * 17, "shot": 0, "latency_ms": 4.1}
END = {"type": "end", "frames": 1234, "dropped": 0, "errors": 0}


@pytest.fixture(scope="module")
def validator():
    schema = output_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("line", [
    HEADER, POSE, END,
    {**POSE, "tc": "10:00:01:12", "dropped": 3},
    {**POSE, "detected": False, "score": 0.0, "box": None, "pose3d": None, "pose2d": None},
    {**POSE, "conf": [0.912, 0.0, 1.0] + [0.5] * 14},
    {**POSE, "detected": False, "score": 0.0, "box": None, "pose3d": None, "pose2d": None, "conf": None},
    {**END, "reason": "stream lost"},
    {**POSE, "shot": 12, "track": 13},
])
def test_design_lines_are_valid(validator, line):
    validator.validate(line)


@pytest.mark.parametrize("change", [
    lambda d: d.pop("latency_ms"),
    lambda d: d.update(type="frame"),
    lambda d: d.update(score=1.5),
    lambda d: d.update(frame=-1),
    lambda d: d.update(pose3d=[[0.0, 0.0]] * 17),
    lambda d: d.update(box=[1, 2, 3]),
    lambda d: d.update(tc="10:00:01"),
    lambda d: d.update(extra=1),
    lambda d: d.update(conf=[1.2] * 17),
    lambda d: d.update(conf=[-0.1] * 17),
    lambda d: d.update(conf=[[0.5]] * 17),
    lambda d: d.pop("shot"),
    lambda d: d.update(shot=-1),
    lambda d: d.update(shot=None),
    lambda d: d.update(shot=1.5),
])
def test_malformed_pose_lines_are_invalid(validator, change):
    line = copy.deepcopy(POSE)
    change(line)
    assert not validator.is_valid(line)


def test_header_needs_mm_and_the_schema_id(validator):
    assert POSE_SCHEMA_ID == "tvstream.pose/4" and output_schema()["$id"].endswith("tvstream.pose-4.json")
    assert not validator.is_valid({**HEADER, "units": "m"})
    assert not validator.is_valid({**HEADER, "schema": "tvstream.pose/1"})
    assert not validator.is_valid({k: v for k, v in HEADER.items() if k != "source"})


def test_schema_description_says_what_pose_2_changed():
    description = output_schema()["description"]
    assert "tvstream.pose/1" in description and "conf" in description and "min_conf" in description


def test_schema_description_says_what_pose_4_changed():
    description = output_schema()["description"]
    assert "Changes from tvstream.pose/3: every pose line carries shot" in description
