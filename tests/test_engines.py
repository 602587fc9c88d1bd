"""Export to ONNX and the ONNX Runtime / torch backends on a tiny model: parity, metadata, bad files."""

import subprocess
import sys

import numpy as np
import pytest

from engines.backends import load_backend, pick_backend
from engines.metadata import ModelMetadata
from tvstream.errors import BackendError, CheckpointError
from tvstream.skeleton import JOINT_NAMES


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from tiny_model import export_tiny_model

    path = export_tiny_model(tmp_path_factory.mktemp("engines"), "model.onnx")
    return path, load_backend(path, "onnxruntime").metadata


@pytest.mark.parametrize("batch", [1, 8])
def test_onnxruntime_matches_torch(tiny_onnx, batch):
    path, _ = tiny_onnx
    frames = np.random.default_rng(batch).integers(0, 255, (batch, 64, 64, 3), dtype=np.uint8)
    ort_out = load_backend(path, "onnxruntime").infer(frames)
    torch_out = load_backend(path, "torch").infer(frames)
    assert ort_out["pose3d"].shape == (batch, 17, 3) and ort_out["pose2d"].shape == (batch, 17, 2)
    assert np.abs(ort_out["pose3d"] - torch_out["pose3d"]).max() < 1.0  # mm
    assert np.abs(ort_out["box"] - torch_out["box"]).max() < 1e-3
    assert np.abs(ort_out["pose2d"] - torch_out["pose2d"]).max() < 1e-2


def test_untrained_detector_box_is_the_initial_box_in_pixels(tiny_onnx):
    path, meta = tiny_onnx
    box = load_backend(path, "onnxruntime").infer(np.zeros((2, 64, 64, 3), np.uint8))["box"]
    s = 0.2 + 0.8 / (1 + np.exp(-0.5))  # scale at initialisation, centre 0
    np.testing.assert_allclose(box, [[(1 - s) * 32, (1 - s) * 32, (1 + s) * 32, (1 + s) * 32]] * 2, atol=1e-4)
    assert meta.trained is False and meta.input_size == (64, 64) and meta.joints == JOINT_NAMES


def test_wrong_frames_are_refused(tiny_onnx):
    backend = load_backend(tiny_onnx[0], "onnxruntime")
    with pytest.raises(BackendError, match=r"uint8 \(N, 64, 64, 3\)"):
        backend.infer(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(BackendError, match="uint8"):
        backend.infer(np.zeros((1, 64, 64, 3), np.float32))


def test_truncated_and_garbage_models_give_a_clear_error(tiny_onnx, tmp_path):
    data = tiny_onnx[0].read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"not a model" * 100)
    for name in ("cut.onnx", "junk.onnx"):
        with pytest.raises(CheckpointError, match="cannot load the model"):
            load_backend(tmp_path / name, "onnxruntime")
    with pytest.raises(CheckpointError, match="no such model file"):
        load_backend(tmp_path / "absent.onnx", "onnxruntime")


def test_metadata_from_another_skeleton_is_refused(tiny_onnx, tmp_path):
    import onnx

    model = onnx.load(str(tiny_onnx[0]))
    props = {p.key: p.value for p in model.metadata_props}
    other = ModelMetadata.from_props(props)
    bad = ModelMetadata(input_size=other.input_size, joints=tuple(reversed(JOINT_NAMES)))
    del model.metadata_props[:]
    for key, value in bad.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / "other.onnx"))
    with pytest.raises(CheckpointError, match="model joints .* differ"):
        load_backend(tmp_path / "other.onnx", "onnxruntime")
    with pytest.raises(CheckpointError, match="not a tvstream model"):
        ModelMetadata.from_props({}, "x.onnx")


def test_auto_backend_is_onnxruntime_without_tensorrt():
    pytest.importorskip("onnxruntime")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    assert pick_backend("auto") == "onnxruntime"
    with pytest.raises(BackendError, match="unknown backend 'openvino'"):
        pick_backend("openvino")


def test_export_cli_writes_onnx_and_a_triton_repository(tiny_onnx, tmp_path):
    ckpt = tiny_onnx[0].parent / "last.pt"
    out = subprocess.run([sys.executable, "-m", "tvstream", "export", str(ckpt), "--out", str(tmp_path / "m.onnx"),
                          "--triton", str(tmp_path / "repo")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.pt").is_file()
    config = (tmp_path / "repo" / "tvstream" / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in config and "dims: [64, 64, 3]" in config and "max_batch_size: 8" in config
    assert (tmp_path / "repo" / "tvstream" / "1" / "model.onnx").read_bytes() == (tmp_path / "m.onnx").read_bytes()


def test_build_without_tensorrt_is_one_clear_line(tiny_onnx):
    out = subprocess.run([sys.executable, "-m", "tvstream", "build", str(tiny_onnx[0])], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "tensorrt" in out.stderr.lower() and len(out.stderr.strip().splitlines()) == 1


# ---- the pose network's export: frames + track in, conf out ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_posenet(tmp_path_factory):
    from tiny_model import export_tiny_posenet

    return export_tiny_posenet(tmp_path_factory.mktemp("posenet"))


def _frames_and_track(n: int):
    frames = np.random.default_rng(n).integers(0, 255, (n, 72, 128, 3), dtype=np.uint8)
    track = np.zeros((n, 5), np.float32)
    track[1::2] = [1.0, 0.1, -0.2, 0.3, 0.4]  # odd frames follow this box, even ones use the detector
    return frames, track


@pytest.mark.parametrize("batch", [1, 4])
def test_posenet_onnxruntime_matches_torch_with_a_track_input(tiny_posenet, batch):
    frames, track = _frames_and_track(batch)
    ort, ref = load_backend(tiny_posenet, "onnxruntime"), load_backend(tiny_posenet, "torch")
    assert ort.metadata.inputs == ("frames", "track") == ref.metadata.inputs and "conf" in ort.metadata.outputs
    ort_out, torch_out = ort.infer(frames, track), ref.infer(frames, track)
    assert ort_out["conf"].shape == (batch, 17) and ((ort_out["conf"] >= 0) & (ort_out["conf"] <= 1)).all()
    for name, tol in (("pose3d", 1.0), ("box", 1e-3), ("pose2d", 1e-2), ("conf", 1e-4)):
        assert np.abs(ort_out[name] - torch_out[name]).max() < tol, name


def test_posenet_box_is_the_track_box_where_use_is_1_and_the_detector_s_elsewhere(tiny_posenet):
    backend = load_backend(tiny_posenet, "onnxruntime")
    frames, track = _frames_and_track(2)
    tracked, detected = backend.infer(frames, track), backend.infer(frames)  # None: zeros, detect every frame
    # [use, cx, cy, hx, hy] = [1, 0.1, -0.2, 0.3, 0.4] on a 128 x 72 frame: (c -/+ h + 1) * (64, 36) px
    np.testing.assert_allclose(tracked["box"][1], [51.2, 14.4, 89.6, 43.2], atol=1e-3)
    np.testing.assert_allclose(tracked["box"][0], detected["box"][0], atol=1e-5)
    assert np.abs(tracked["box"][1] - detected["box"][1]).max() > 1.0


def test_track_inputs_are_checked_against_the_model(tiny_onnx, tiny_posenet):
    frames_only = load_backend(tiny_onnx[0], "onnxruntime")
    with pytest.raises(BackendError, match="has no 'track' input"):
        frames_only.infer(np.zeros((1, 64, 64, 3), np.uint8), np.zeros((1, 5), np.float32))
    assert frames_only.infer(np.zeros((1, 64, 64, 3), np.uint8), None)["pose3d"].shape == (1, 17, 3)
    tracked = load_backend(tiny_posenet, "onnxruntime")
    frames, _ = _frames_and_track(2)
    for bad in (np.zeros((2, 4), np.float32), np.zeros((1, 5), np.float32), np.zeros((2, 5))):
        with pytest.raises(BackendError, match=r"track must be float32 \(2, 5\)"):
            tracked.infer(frames, bad)
