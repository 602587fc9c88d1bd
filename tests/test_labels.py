import json

import numpy as np
import pytest

from train.data.pattern_video import pattern_labels
from tvstream.errors import LabelError
from tvstream.labels import (
    HANDLABELS_SCHEMA, box_from_joints, load_any_labels, load_hand_labels, load_labels, save_labels,
)
from tvstream.skeleton import JOINT_NAMES


def _npz_fields(labels):
    return dict(frames=labels.frames, joints3d=labels.joints3d, joints2d=labels.joints2d, box=labels.box,
                visible=labels.visible, K=labels.camera.K, R=labels.camera.R, t=labels.camera.t,
                subject=np.array("s1"), sequence=np.array("seq"), camera=np.array("c0"))


def test_save_then_load_round_trips_every_field(tmp_path):
    labels = pattern_labels(20, frames=np.arange(0, 40, 2))
    save_labels(tmp_path / "a.npz", labels)
    back = load_labels(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.frames, np.arange(0, 40, 2))
    np.testing.assert_allclose(back.joints3d, labels.joints3d)
    np.testing.assert_allclose(back.joints2d, labels.joints2d)
    np.testing.assert_allclose(back.camera.K, labels.camera.K)
    assert (back.subject, back.sequence, back.camera_id) == ("pattern", "pattern", "0")
    assert not (tmp_path / "a.npz.tmp").exists()


def test_pattern_labels_project_back_to_their_2d_joints():
    labels = pattern_labels(5)
    np.testing.assert_allclose(labels.camera.project(labels.joints3d), labels.joints2d, atol=1e-3)


@pytest.mark.parametrize("field", ["joints3d", "box", "K", "subject"])
def test_missing_field_is_named(tmp_path, field):
    fields = _npz_fields(pattern_labels(4))
    del fields[field]
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(LabelError, match=f"missing field '{field}'"):
        load_labels(tmp_path / "bad.npz")


@pytest.mark.parametrize("field, value, expected", [
    ("joints3d", np.zeros((4, 16, 3)), r"'joints3d' has shape \(4, 16, 3\), expected \(N, 17, 3\)"),
    ("joints2d", np.zeros((4, 17, 3)), r"'joints2d' has shape \(4, 17, 3\), expected \(N, 17, 2\)"),
    ("K", np.eye(4), r"'K' has shape \(4, 4\), expected \(3, 3\)"),
    ("box", np.zeros((3, 4)), r"'box' has 3 rows, 'frames' has 4"),
    ("visible", np.full((4, 17), 2), r"'visible' has dtype int64, expected bool"),
    ("subject", np.zeros(3), r"'subject' must be a string"),
    ("frames", np.array([0, 2, 1, 3]), r"'frames' must be strictly increasing"),
])
def test_wrong_shape_or_type_is_refused_naming_the_field(tmp_path, field, value, expected):
    fields = _npz_fields(pattern_labels(4))
    fields[field] = value
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(LabelError, match=expected):
        load_labels(tmp_path / "bad.npz")


def test_joint_names_from_another_skeleton_are_refused(tmp_path):
    fields = _npz_fields(pattern_labels(2))
    fields["joint_names"] = np.array(list(reversed(JOINT_NAMES)))
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(LabelError, match="field 'joint_names'"):
        load_labels(tmp_path / "bad.npz")


def test_unreadable_or_missing_label_file_is_a_label_error(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LabelError, match="not a readable .npz"):
        load_labels(tmp_path / "junk.npz")
    with pytest.raises(LabelError, match="no such label file"):
        load_labels(tmp_path / "absent.npz")
    assert issubclass(LabelError, ValueError)


def test_rows_maps_frame_indices_to_label_rows():
    labels = pattern_labels(3, frames=np.array([5, 9, 30]))
    np.testing.assert_array_equal(labels.rows(np.array([9, 5, 6, 30, 31])), [1, 0, -1, 2, -1])


def test_take_keeps_the_chosen_rows_of_every_per_row_field():
    from dataclasses import replace

    from tvstream.labels import CameraParams

    labels = pattern_labels(4, frames=np.array([2, 3, 7, 8]))
    cams = CameraParams(K=np.arange(4 * 9, dtype=np.float32).reshape(4, 3, 3),
                        R=np.arange(4 * 9, dtype=np.float32).reshape(4, 3, 3) + 100,
                        t=np.arange(12, dtype=np.float32).reshape(4, 3))
    labels = replace(labels, frame_cameras=cams, confidence=np.linspace(0, 1, 4 * 17, dtype=np.float32).reshape(4, 17))
    kept = labels.take(np.array([False, True, False, True]))
    np.testing.assert_array_equal(kept.frames, [3, 8])
    for field in ("joints3d", "joints2d", "box", "visible", "confidence"):
        np.testing.assert_array_equal(getattr(kept, field), getattr(labels, field)[[1, 3]])
    np.testing.assert_array_equal(kept.frame_cameras.t, [[3, 4, 5], [9, 10, 11]])
    np.testing.assert_array_equal(kept.frame_cameras.K, cams.K[[1, 3]])
    np.testing.assert_array_equal(kept.frame_cameras.R, cams.R[[1, 3]])
    assert kept.camera is labels.camera and (kept.subject, kept.sequence) == (labels.subject, labels.sequence)
    assert labels.take(np.array([2])).frames.tolist() == [7] and len(labels) == 4  # indices too; the original kept


def _hand_doc(frames):
    return {"schema": HANDLABELS_SCHEMA, "video": "dive.mp4", "joints": list(JOINT_NAMES), "frames": frames}


def test_hand_labels_with_only_2d_have_unknown_3d(tmp_path):
    uv = (np.arange(34).reshape(17, 2) * 3.0).tolist()
    xyz = np.ones((17, 3)).tolist()
    path = tmp_path / "dive.json"
    path.write_text(json.dumps(_hand_doc([
        {"frame": 40, "joints2d": uv},
        {"frame": 12, "joints2d": uv, "joints3d": xyz, "visible": [1] * 16 + [0]},
    ])))
    labels = load_any_labels(path)
    np.testing.assert_array_equal(labels.frames, [12, 40])  # sorted by frame
    np.testing.assert_array_equal(labels.has_3d, [True, False])
    assert labels.visible[0].sum() == 16 and labels.visible[1].all()
    assert labels.sequence == "dive" and labels.camera is None
    # no box given: derived from the visible joints (x 0..96, y 3..99), grown by 13% per side in x, 4% in y
    np.testing.assert_allclose(labels.box[1], [-12.48, -0.84, 108.48, 102.84], atol=1e-4)
    np.testing.assert_allclose(box_from_joints(np.array([[0, 0], [10, 20]], np.float32), np.ones(2, bool)),
                               [-1.3, -0.8, 11.3, 20.8], atol=1e-6)
    # no mask: every joint; a mask leaves the hidden joint out
    joints = np.array([[0, 0], [10, 20], [100, 100]], np.float32)
    np.testing.assert_allclose(box_from_joints(joints), [-13.0, -4.0, 113.0, 104.0], atol=1e-5)
    np.testing.assert_allclose(box_from_joints(joints, np.array([True, True, False])), [-1.3, -0.8, 11.3, 20.8],
                               atol=1e-6)


@pytest.mark.parametrize("frames, expected", [
    ([{"joints2d": [[0, 0]] * 17}], r"missing field 'frames\[0\].frame'"),
    ([{"frame": 1, "joints2d": [[0, 0]] * 17}, {"frame": 2, "joints2d": [[0, 0]] * 16}],
     r"'frames\[1\].joints2d' has shape \(16, 2\)"),
    ([{"frame": 1, "joints2d": [[0, 0]] * 17, "joints3d": [[0, 0]] * 17}], r"'frames\[0\].joints3d' has shape"),
    ([{"frame": "x", "joints2d": [[0, 0]] * 17}], r"'frames\[0\].frame' has dtype"),
])
def test_bad_hand_label_frame_is_named(tmp_path, frames, expected):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(_hand_doc(frames)))
    with pytest.raises(LabelError, match=expected):
        load_hand_labels(path)


def test_hand_labels_need_the_schema_and_skeleton(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({**_hand_doc([]), "schema": "other/1"}))
    with pytest.raises(LabelError, match="field 'schema'"):
        load_hand_labels(path)
    path.write_text(json.dumps({**_hand_doc([]), "joints": ["hip"]}))
    with pytest.raises(LabelError, match="field 'joints'"):
        load_hand_labels(path)
    path.write_text("{not json")
    with pytest.raises(LabelError, match="not valid JSON"):
        load_hand_labels(path)


def test_moving_camera_fields_round_trip_and_must_come_together(tmp_path):
    from tvstream.labels import CameraParams, VideoLabels

    base = pattern_labels(3)
    K = np.stack([base.camera.K * (1 + 0.1 * i) for i in range(3)])
    K[:, 2, 2] = 1
    moving = VideoLabels(**{**base.__dict__, "frame_cameras": CameraParams(
        K=K, R=np.stack([np.eye(3)] * 3), t=np.zeros((3, 3)))})
    save_labels(tmp_path / "m.npz", moving)
    back = load_labels(tmp_path / "m.npz")
    np.testing.assert_allclose(back.camera_at(2).K, K[2], rtol=1e-6)
    np.testing.assert_allclose(back.camera_at(0).K, back.frame_cameras.K[0])
    fields = _npz_fields(base)
    fields["K_frames"] = K
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(LabelError, match="missing field 'R_frames'"):
        load_labels(tmp_path / "bad.npz")
