import json
import logging

import numpy as np
import pytest

from tvstream.camera import (DEFAULT_HFOV_DEG, CameraFile, fov_intrinsics, load_camera_file, rescale_intrinsics,
                             scene_camera)
from tvstream.errors import CameraError, ExitStatus

K = [[1400.0, 0, 959.5], [0, 1400.0, 539.5], [0, 0, 1]]


def write(tmp_path, doc) -> str:
    path = tmp_path / "camera.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_a_camera_file_with_k_and_a_ground_plane_loads(tmp_path):
    cam = load_camera_file(write(tmp_path, {"K": K, "width": 1920, "height": 1080,
                                            "ground": {"normal": [0, -2, 0], "point": [0, 1500, 0]}}))
    np.testing.assert_array_equal(cam.K, K)
    assert cam.size == (1920, 1080)
    np.testing.assert_allclose(cam.ground.normal, [0, -1, 0])
    assert cam.ground.height(np.array([0.0, 500.0, 8000.0])) == pytest.approx(1000.0)


def test_the_labels_extrinsics_give_the_floor(tmp_path):
    # a camera 2 m above the world origin looking along world +y, level: X_cam = R X_world + t, t in mm
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    t = -R @ np.array([0.0, 0.0, 2000.0])
    cam = load_camera_file(write(tmp_path, {"K": K, "R": R.tolist(), "t": t.tolist()}))
    foot, head = R @ [300.0, 5000, 0] + t, R @ [300.0, 5000, 1750] + t
    assert cam.ground.height(foot) == pytest.approx(0.0, abs=1e-9)
    assert cam.ground.height(head) == pytest.approx(1750.0)


@pytest.mark.parametrize("doc, message", [
    ("not json", "not valid JSON"),
    ([1, 2], "JSON object"),
    ({"width": 10}, "missing field 'K'"),
    ({"K": [[1, 0], [0, 1]]}, "field 'K' must be finite numbers of shape"),
    ({"K": [[1400, 0, 960], [0, -1400, 540], [0, 0, 1]]}, "positive focal lengths"),
    ({"K": [[1400, 0, 960], [0, 1400, 540], [0, 0, 2]]}, r"\[0, 0, 1\]"),
    ({"K": K, "width": 1920}, "'width' and 'height' must both"),
    ({"K": K, "ground": {"normal": [0, 0, 0], "point": [0, 0, 0]}}, "must not be zero"),
    ({"K": K, "ground": [0, 1, 0]}, "'normal' and 'point'"),
    ({"K": K, "R": np.eye(3).tolist()}, "both 'R' and 't'"),
    ({"K": K, "R": (2 * np.eye(3)).tolist(), "t": [0, 0, 0]}, "rotation"),
    ({"K": K, "R": np.eye(3).tolist(), "t": [0, 0, 0], "ground": {"normal": [0, 1, 0], "point": [0, 0, 0]}},
     "not both"),
])
def test_bad_camera_files_are_one_clear_error(tmp_path, doc, message):
    with pytest.raises(CameraError, match=message) as info:
        load_camera_file(write(tmp_path, doc))
    assert info.value.exit_code == ExitStatus.BAD_INPUT and isinstance(info.value, ValueError)


def test_a_missing_camera_file_is_a_camera_error(tmp_path):
    with pytest.raises(CameraError, match="no such camera file"):
        load_camera_file(tmp_path / "nope.json")


def test_unknown_fields_are_warned_about(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        load_camera_file(write(tmp_path, {"K": K, "grond": {}}))
    assert "grond" in caplog.text


def test_fov_gives_a_centred_pinhole_of_that_field_of_view():
    cam = scene_camera(1280, 720, fov=50.0)
    assert cam.intrinsics == "fov" and cam.hfov_deg == pytest.approx(50.0)
    np.testing.assert_allclose(cam.K[:2, 2], [639.5, 359.5])
    assumed = scene_camera(1280, 720)
    assert assumed.intrinsics == "assumed" and assumed.hfov_deg == pytest.approx(DEFAULT_HFOV_DEG)
    assert assumed.to_dict()["intrinsics"] == "assumed" and "ground" not in assumed.to_dict()


def test_a_k_calibrated_at_another_size_is_rescaled_with_a_warning(caplog):
    file = CameraFile(path="cam.json", K=np.array(K), size=(1920, 1080))
    with caplog.at_level(logging.WARNING):
        cam = scene_camera(1280, 720, file)
    assert "rescaling K" in caplog.text and cam.calibrated_size == (1920, 1080)
    np.testing.assert_allclose(cam.K, fov_intrinsics(1280, 720, scene_camera(1920, 1080, file).hfov_deg), atol=1e-9)
    np.testing.assert_allclose(rescale_intrinsics(cam.K, (1280, 720), (1920, 1080)), K, atol=1e-9)
    assert cam.to_dict()["calibrated_size"] == [1920, 1080]


def test_file_and_fov_together_are_refused():
    with pytest.raises(CameraError, match="not both"):
        scene_camera(640, 360, CameraFile(path="c.json", K=np.array(K)), fov=60.0)
    with pytest.raises(CameraError, match="field of view"):
        fov_intrinsics(640, 360, 0.5)
