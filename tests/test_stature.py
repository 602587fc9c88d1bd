"""A known height gives the 3D its size: the standing chain, the scaling, and `tvstream run --height` end to end."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from tvstream.output_schema import output_schema
from tvstream.pipeline import RunOptions
from tvstream.root_position import KNOWN_STATURE_SCALE_SD, combined_scale
from tvstream.stature import STATURE_PER_CHAIN, StatureScale, standing_chain

SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"


def skeleton() -> np.ndarray:
    """A standing skeleton (mm, y down) with hand-set bones: thighs and shins 400, trunk 200 + 200 + 100 + 150."""
    p = np.zeros((17, 3))
    p[1], p[4] = [-100, 0, 0], [100, 0, 0]  # hips
    p[2], p[5] = p[1] + [0, 400, 0], p[4] + [0, 400, 0]  # knees
    p[3], p[6] = p[2] + [0, 400, 0], p[5] + [0, 400, 0]  # ankles
    p[7] = [0, -200, 0]  # spine
    p[8] = [0, -400, 0]  # thorax
    p[9] = [0, -500, 0]  # neck
    p[10] = [0, -650, 0]  # head top
    p[11:14] = [[150, -400, 0], [150, -150, 0], [150, 50, 0]]  # left arm (not in the chain)
    p[14:17] = [[-150, -400, 0], [-150, -150, 0], [-150, 50, 0]]
    return p


def test_the_standing_chain_is_a_leg_and_the_trunk_whatever_the_pose():
    p = skeleton()
    assert standing_chain(p) == pytest.approx(800 + 650)
    crouched = p.copy()
    crouched[2] = p[1] + [0, 0, 400]  # the right thigh forward, the shin hanging: bone lengths unchanged
    crouched[3] = crouched[2] + [0, 400, 0]
    crouched[11:17] += [0, 0, 300]  # the arms do not count
    assert standing_chain(crouched) == pytest.approx(1450)
    longer = p.copy()
    longer[3] += [0, 100, 0]  # one shin 100 longer: the mean leg 50 longer
    assert standing_chain(longer) == pytest.approx(1500)


def test_a_frame_is_scaled_about_its_root_to_the_stature():
    p = skeleton() + [30.0, -20.0, 5.0]  # the root need not be at the origin
    scaled = StatureScale(1800.0)(p, track=1)
    assert standing_chain(scaled) * STATURE_PER_CHAIN == pytest.approx(1800.0)
    np.testing.assert_allclose(scaled[0], p[0])  # the root stays where it was
    np.testing.assert_allclose(scaled - scaled[0], (p - p[0]) * 1800.0 / (1450 * STATURE_PER_CHAIN))


def test_the_chain_is_the_tracks_running_mean_and_restarts_with_another_track():
    scale = StatureScale(1450 * STATURE_PER_CHAIN)  # the chain it asks for: 1450
    p = skeleton()
    np.testing.assert_allclose(scale(p * 1.2, track=3), p)  # one frame: its own chain (1740) -> 1450
    # the second frame's chain is 1160; the track's mean (1740 + 1160) / 2 = 1450 -> this frame is left as it is
    np.testing.assert_allclose(scale(p * 0.8, track=3), p * 0.8)
    np.testing.assert_allclose(scale(p * 0.8, track=4), p)  # another athlete: its own chain again
    assert scale(np.full((17, 3), np.nan), track=4).shape == (17, 3)  # a frame without a skeleton passes


def test_an_unsure_read_hardly_moves_the_chain():
    scale = StatureScale(1450 * STATURE_PER_CHAIN)
    p = skeleton()
    np.testing.assert_allclose(scale(p * 1.2, track=1, confidence=1.0), p)  # chain 1740, weight 1
    # a read at confidence 0.1 (weight 0.01) with chain 1160: the mean (1740 + 0.01 * 1160) / 1.01 = 1734.26
    np.testing.assert_allclose(scale(p * 0.8, track=1, confidence=0.1), p * 0.8 * 1450 / (1751.6 / 1.01))
    # nothing sure yet: a frame at confidence 0 is scaled on its own chain
    np.testing.assert_allclose(StatureScale(1450 * STATURE_PER_CHAIN)(p * 0.5, track=2, confidence=0.0), p)


def test_a_known_stature_outweighs_the_floor_more_than_a_guessed_one():
    # the floor says 1.1 (sd 0.05); the skeleton says 1 with sd 0.08 (guessed size) or 0.02 (a known height):
    # (0.08^-2 + 0.05^-2 * 1.1) / (0.08^-2 + 0.05^-2) = 1.0719 and (2500 + 400 * 1.1) / 2900 = 1.0138
    assert combined_scale((1.1, 0.05)) == pytest.approx(1.0719, abs=1e-4)
    assert combined_scale((1.1, 0.05), KNOWN_STATURE_SCALE_SD) == pytest.approx(1.0138, abs=1e-4)


@pytest.mark.parametrize("height", [0.3, 3.0, -1.0])
def test_a_height_outside_people_is_refused(height):
    with pytest.raises(ValueError, match="height_m"):
        RunOptions(height_m=height)


def _run(tmp_path: Path, *args) -> list[dict]:
    out = tmp_path / f"poses{'_'.join(map(str, args))}.jsonl"
    done = subprocess.run([sys.executable, "-m", "tvstream", "run", SAMPLE, "--out", out, "--scenario", "ski",
                           *map(str, args)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    return lines


def test_run_height_sizes_the_3d_and_the_roots_distance_and_leaves_the_2d(tmp_path):
    short, tall = _run(tmp_path, "--height", "1.6"), _run(tmp_path, "--height", "2.0")
    assert short[0]["athlete"] == {"height_m": 1.6} and tall[0]["athlete"] == {"height_m": 2.0}
    poses = [(a, b) for a, b in zip(short[1:-1], tall[1:-1]) if a["detected"] and b["detected"]]
    assert len(poses) > 200
    for run, height in ((0, 1600), (1, 2000)):
        statures = [standing_chain(np.array(p[run]["pose3d"])) * STATURE_PER_CHAIN for p in poses]
        assert np.median(statures) == pytest.approx(height, rel=0.03)
    for a, b in poses:
        assert a["pose2d"] == b["pose2d"]  # the 2D is the network's, whatever the height
    # the root's depth scales with the skeleton's size: 2.0 / 1.6 = 1.25
    depth = [b["root"][2] / a["root"][2] for a, b in poses if a.get("root") and b.get("root")]
    assert len(depth) > 200 and np.median(depth) == pytest.approx(1.25, rel=0.03)


def test_run_height_says_what_is_wrong_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tvstream", "run", SAMPLE, "--out", tmp_path / "x.jsonl",
                           "--height", "180"], capture_output=True, timeout=120)
    assert done.returncode != 0 and b"--height" in done.stderr and not (tmp_path / "x.jsonl").exists()
