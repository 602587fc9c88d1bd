"""TensorRT backend logic against a fake `tensorrt`/`pycuda`: cache keys, rebuilds, buffers, precision, parity.

The real library cannot be installed here; only ``test_real_tensorrt_matches_onnxruntime`` needs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_tensorrt import FakeCuda, FakeTensorRT, NetworkDefinitionCreationFlag

from engines import engine_cache
from engines.backends.tensorrt import MISSING, TensorRTBackend
from engines.engine_cache import EngineCache, EngineKey, default_cache_dir
from engines.metadata import ModelMetadata
from engines.parity import compare_outputs, refuse_precision
from tvstream.errors import BackendError, CheckpointError
from tvstream.skeleton import JOINT_NAMES

H, W, K = 32, 32, len(JOINT_NAMES)


def tiny_onnx(path: Path, fp16: bool = False, track: bool = False,
              meta_inputs: tuple[str, ...] | None = None, turned: bool = False) -> Path:
    """A valid model: frames (N, H, W, 3) uint8 -> every output filled with the frame's mean pixel value.

    ``track``: a second input ``track (N, 5)`` and a ``conf`` output, as the pose network's export has
    (see :func:`tiny_track_outputs`). ``meta_inputs``: what the metadata claims (default: the graph's inputs).
    ``turned``: the track has a 6th number (a crop that turns with the body: ``ModelMetadata.track_columns``).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ft, npt = (TensorProto.FLOAT16, np.float16) if fp16 else (TensorProto.FLOAT, np.float32)
    inits = [numpy_helper.from_array(np.ones((1, 4), npt), "ones_box"),
             numpy_helper.from_array(np.ones((1, K, 3), npt), "ones_3d"),
             numpy_helper.from_array(np.ones((1, K, 2), npt), "ones_2d"),
             numpy_helper.from_array(np.array([-1, 1], np.int64), "shape_n1"),
             numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape_n11")]
    box3d = ("box", "pose3d") if not track else ("box0", "pose3d0")
    nodes = [helper.make_node("Cast", ["frames"], ["x"], to=ft),
             helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=1),  # (N, 1, 1, 1)
             helper.make_node("Reshape", ["m", "shape_n1"], ["m2"]),  # (N, 1, 1, 1) -> (N, 1)
             helper.make_node("Reshape", ["m", "shape_n11"], ["m3"]),  # (N, 1, 1, 1) -> (N, 1, 1)
             helper.make_node("Mul", ["m2", "ones_box"], [box3d[0]]),
             helper.make_node("Mul", ["m3", "ones_3d"], [box3d[1]]),
             helper.make_node("Mul", ["m3", "ones_2d"], ["pose2d"])]
    inputs = [helper.make_tensor_value_info("frames", TensorProto.UINT8, ["N", H, W, 3])]
    outputs = [helper.make_tensor_value_info("box", ft, ["N", 4]),
               helper.make_tensor_value_info("pose3d", ft, ["N", K, 3]),
               helper.make_tensor_value_info("pose2d", ft, ["N", K, 2])]
    names = ("box", "pose3d", "pose2d")
    if track:  # box += track[:, 1:5]; pose3d += 100 * cx; conf = mean / 255
        inits += [numpy_helper.from_array(np.array([1], np.int64), "i1"),
                  numpy_helper.from_array(np.array([2], np.int64), "i2"),
                  numpy_helper.from_array(np.array([5], np.int64), "i5"),
                  numpy_helper.from_array(np.full((1, K, 3), 100, npt), "hundreds_3d"),
                  numpy_helper.from_array(np.full((1, K), 1 / 255, npt), "inv255_k")]
        nodes += [helper.make_node("Cast", ["track"], ["tr"], to=ft),
                  helper.make_node("Slice", ["tr", "i1", "i5", "i1"], ["tbox"]),  # (N, 4)
                  helper.make_node("Add", ["box0", "tbox"], ["box"]),
                  helper.make_node("Slice", ["tr", "i1", "i2", "i1"], ["cx"]),  # (N, 1)
                  helper.make_node("Reshape", ["cx", "shape_n11"], ["cx3"]),  # (N, 1) -> (N, 1, 1)
                  helper.make_node("Mul", ["cx3", "hundreds_3d"], ["shift"]),
                  helper.make_node("Add", ["pose3d0", "shift"], ["pose3d"]),
                  helper.make_node("Mul", ["m2", "inv255_k"], ["conf"])]
        inputs.append(helper.make_tensor_value_info("track", ft, ["N", 6 if turned else 5]))
        outputs.append(helper.make_tensor_value_info("conf", ft, ["N", K]))
        names += ("conf",)
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any onnxruntime >= 1.17
    meta_inputs = meta_inputs or tuple(i.name for i in inputs)
    config = {"kind": "posenet", "model": {"crop_rotation": True}} if turned else {}
    helper.set_model_props(model, ModelMetadata(input_size=(H, W), outputs=names, inputs=meta_inputs,
                                                config=config).to_props())
    onnx.save(model, str(path))
    return path


def tiny_outputs(frames: np.ndarray, pose_offset_mm: float = 0.0) -> dict[str, np.ndarray]:
    """What ``tiny_onnx`` computes, plus an optional pose3d error (what a lossy precision would add)."""
    m = frames.astype(np.float32).mean(axis=(1, 2, 3))  # (N,)
    n = len(frames)
    pose3d = np.broadcast_to(m[:, None, None], (n, K, 3)).copy()
    pose3d[..., 0] += pose_offset_mm
    return {"box": np.broadcast_to(m[:, None], (n, 4)), "pose3d": pose3d,
            "pose2d": np.broadcast_to(m[:, None, None], (n, K, 2))}


def tiny_track_outputs(frames: np.ndarray, track: np.ndarray) -> dict[str, np.ndarray]:
    """What ``tiny_onnx(..., track=True)`` computes: box + track box, pose3d + 100 mm x cx, conf = mean / 255."""
    out = tiny_outputs(frames)
    m = frames.astype(np.float32).mean(axis=(1, 2, 3))  # (N,)
    return {"box": out["box"] + track[:, 1:5], "pose3d": out["pose3d"] + 100 * track[:, 1, None, None],
            "pose2d": out["pose2d"], "conf": np.broadcast_to(m[:, None] / 255, (len(frames), K))}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    return {"fp32": tiny_onnx(root / "tiny.onnx"), "fp16": tiny_onnx(root / "tiny_fp16.onnx", fp16=True),
            "track": tiny_onnx(root / "tiny_track.onnx", track=True),
            "track_fp16": tiny_onnx(root / "tiny_track_fp16.onnx", fp16=True, track=True),
            "track_unclaimed": tiny_onnx(root / "tiny_track_unclaimed.onnx", track=True, meta_inputs=("frames",)),
            "turned": tiny_onnx(root / "tiny_turned.onnx", track=True, turned=True)}


@pytest.fixture
def fakes() -> tuple[FakeTensorRT, FakeCuda]:
    cuda = FakeCuda()
    return FakeTensorRT(cuda, run=tiny_outputs), cuda


def make_backend(path: Path, cache: Path, fakes: tuple[FakeTensorRT, FakeCuda], **options) -> TensorRTBackend:
    trt, cuda = fakes
    return TensorRTBackend(path, cache_dir=cache, trt_module=trt, cuda_module=cuda, **options)


def frames_of(n: int, seed: int = 1) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(n, H, W, 3)).astype(np.uint8)  # (n, H, W, 3)


KEY = EngineKey.from_onnx(b"onnx-bytes", "10.0.1", "NVIDIA H100", "fp16", 8)


# ---- cache keys and files ------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"onnx_sha256": EngineKey.from_onnx(b"other", "", "", "", 1).onnx_sha256},
                                    {"tensorrt_version": "10.1.0"}, {"gpu_name": "NVIDIA A100"},
                                    {"precision": "fp32"}, {"max_batch": 4}])
def test_cache_key_changes_with_any_build_input(change: dict) -> None:
    other = dataclasses.replace(KEY, **change)
    assert other.file_stem() != KEY.file_stem()
    assert EngineCache("/c").paths(other) != EngineCache("/c").paths(KEY)


def test_cache_key_is_stable_for_the_same_inputs() -> None:
    again = EngineKey.from_onnx(b"onnx-bytes", "10.0.1", "NVIDIA H100", "fp16", 8)
    assert again == KEY and again.file_stem() == KEY.file_stem()


def test_cache_dir_defaults_to_env_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TVSTREAM_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("TVSTREAM_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "tvstream" / "engines"


def test_store_then_lookup_round_trips_with_sidecar_and_no_temp_files(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    cache.store(KEY, b"engine-v1", {"parity": {"pose3d_max_mm": 0.1}})
    assert cache.lookup(KEY) == b"engine-v1"
    side = cache.sidecar(KEY)
    assert side["key"]["gpu_name"] == "NVIDIA H100" and side["parity"]["pose3d_max_mm"] == 0.1
    assert sorted(p.suffix for p in (tmp_path / "engines").iterdir()) == [".engine", ".json"]


def test_failed_store_keeps_the_previous_engine_and_no_temp_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"engine-v1")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(engine_cache.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.store(KEY, b"engine-v2")
    monkeypatch.undo()
    assert cache.lookup(KEY) == b"engine-v1"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_engine_without_sidecar_is_stale_and_deleted(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"engine")
    cache.paths(KEY)[1].unlink()  # as if the process died between the two writes
    assert cache.lookup(KEY) is None
    assert not cache.paths(KEY)[0].exists()


def test_engine_that_fails_to_deserialise_is_deleted_not_raised(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"engine")

    def explode(data: bytes) -> None:
        raise RuntimeError("serialization assertion failed")

    assert cache.load(KEY, explode) is None
    assert not any(p.exists() for p in cache.paths(KEY))


# ---- build, load, rebuild ------------------------------------------------------------------------------


def test_second_backend_loads_the_cached_engine_without_building(models, tmp_path, fakes) -> None:
    trt, _ = fakes
    first = make_backend(models["fp32"], tmp_path, fakes)
    second = make_backend(models["fp32"], tmp_path, fakes)
    assert (first.built, second.built, trt.builds) == (True, False, 1)
    assert second.parity["pose3d_max_mm"] < 1e-3  # the sidecar's report came back with the engine


def test_garbage_engine_file_is_deleted_and_rebuilt(models, tmp_path, fakes, caplog) -> None:
    trt, _ = fakes
    make_backend(models["fp32"], tmp_path, fakes).close()
    (engine_file,) = tmp_path.glob("*.engine")
    engine_file.write_bytes(b"\x00not an engine")
    backend = make_backend(models["fp32"], tmp_path, fakes)
    assert backend.built and trt.builds == 2
    assert "corrupt" in caplog.text
    assert engine_file.read_bytes().startswith(b"FAKETRT")
    np.testing.assert_allclose(backend.infer(frames_of(2))["pose3d"], tiny_outputs(frames_of(2))["pose3d"], atol=1e-4)


def test_stale_sidecar_triggers_a_rebuild(models, tmp_path, fakes) -> None:
    trt, _ = fakes
    make_backend(models["fp32"], tmp_path, fakes).close()
    (side_file,) = tmp_path.glob("*.json")
    side = json.loads(side_file.read_text())
    side["key"]["tensorrt_version"] = "8.6.1"
    side_file.write_text(json.dumps(side))
    assert make_backend(models["fp32"], tmp_path, fakes).built and trt.builds == 2


def test_parser_error_is_a_backend_error_with_the_parser_message(models, tmp_path, fakes) -> None:
    trt, cuda = fakes
    trt.parse_errors = ["While parsing node number 3 [GridSample]: unsupported mode"]
    with pytest.raises(BackendError, match=r"cannot parse .*tiny.onnx: While parsing node number 3 \[GridSample\]"):
        make_backend(models["fp32"], tmp_path, fakes)
    assert cuda.context_depth == 0 and cuda.detached == 1


def test_failed_build_is_a_backend_error_with_tensorrt_message(models, tmp_path, fakes) -> None:
    trt, _ = fakes
    trt.build_error = "no implementation obeys reformatting-free rules"
    with pytest.raises(BackendError, match="could not build an engine .*no implementation obeys"):
        make_backend(models["fp32"], tmp_path, fakes)
    assert not list(tmp_path.glob("*.engine"))


# ---- buffers and inference -----------------------------------------------------------------------------


def test_buffers_are_sized_for_max_batch_and_reused(models, tmp_path, fakes) -> None:
    trt, cuda = fakes
    backend = make_backend(models["fp32"], tmp_path, fakes, max_batch=4)
    sizes = {name: buf.capacity * buf.dtype.itemsize for name, buf in backend.buffers.items()}
    assert sizes == {"frames": 4 * H * W * 3, "box": 4 * 4 * 4, "pose3d": 4 * K * 3 * 4, "pose2d": 4 * K * 2 * 4}
    assert sorted(n for _, n in cuda.allocated) == sorted(sizes.values())
    allocations = backend.allocations
    for n in (1, 4, 2):
        backend.infer(frames_of(n))
    assert backend.allocations == allocations == 4 and len(cuda.allocated) == 4


def test_outputs_are_float32_and_trimmed_to_the_batch(models, tmp_path, fakes) -> None:
    backend = make_backend(models["fp32"], tmp_path, fakes, max_batch=4)
    frames = frames_of(3)
    out = backend.infer(frames)
    assert {k: v.shape for k, v in out.items()} == {"box": (3, 4), "pose3d": (3, K, 3), "pose2d": (3, K, 2)}
    assert all(v.dtype == np.float32 for v in out.values())
    for name, expected in tiny_outputs(frames).items():
        np.testing.assert_allclose(out[name], expected, atol=1e-4)
    assert backend.infer(frames_of(0))["pose3d"].shape == (0, K, 3)


def test_batch_over_max_batch_is_refused(models, tmp_path, fakes) -> None:
    backend = make_backend(models["fp32"], tmp_path, fakes, max_batch=4)
    with pytest.raises(BackendError, match="batch of 5 frames exceeds max_batch=4"):
        backend.infer(frames_of(5))
    with pytest.raises(BackendError, match=r"frames must be uint8 \(N, 32, 32, 3\)"):
        backend.infer(np.zeros((1, H, W, 3), np.float32))


def test_close_frees_device_memory_and_refuses_infer(models, tmp_path, fakes) -> None:
    _, cuda = fakes
    with make_backend(models["fp32"], tmp_path, fakes) as backend:
        backend.infer(frames_of(1))
    assert cuda.memory == {} and len(cuda.freed) == 4
    assert cuda.context_depth == 0 and cuda.detached == 1
    backend.close()  # twice is fine
    with pytest.raises(BackendError, match="closed"):
        backend.infer(frames_of(1))


# ---- the track input -----------------------------------------------------------------------------------


def track_of(n: int) -> np.ndarray:
    """``(n, 5)`` track rows: frame 0 uses the detector, the others follow a box centred at x = 0.1 i."""
    track = np.zeros((n, 5), np.float32)
    track[1:] = [[1.0, 0.1 * i, -0.2, 0.3, 0.4] for i in range(1, n)]
    return track


def test_track_engine_profiles_reserves_and_copies_both_inputs(models, tmp_path) -> None:
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=tiny_track_outputs)
    backend = make_backend(models["track"], tmp_path, (trt, cuda), max_batch=4)
    assert trt.configs[0].profiles[0].shapes["track"] == ((1, 5), (4, 5), (4, 5))
    sizes = {name: buf.capacity * buf.dtype.itemsize for name, buf in backend.buffers.items()}
    assert sizes == {"frames": 4 * H * W * 3, "track": 4 * 5 * 4, "box": 4 * 4 * 4, "pose3d": 4 * K * 3 * 4,
                     "pose2d": 4 * K * 2 * 4, "conf": 4 * K * 4}
    frames, track = np.repeat(frames_of(1), 3, axis=0), track_of(3)  # (3, H, W, 3): the same frame 3 times
    out = backend.infer(frames, track)
    np.testing.assert_array_equal(trt.fed[-1]["track"], track)  # what the engine read from device memory
    for name, expected in tiny_track_outputs(frames, track).items():
        np.testing.assert_allclose(out[name], expected, atol=1e-4)
    assert out["pose3d"][2, 0, 0] - out["pose3d"][0, 0, 0] == pytest.approx(20.0, abs=1e-3)  # 100 mm x cx 0.2
    backend.infer(frames)  # no track: zeros, the detector's boxes
    np.testing.assert_array_equal(trt.fed[-1]["track"], np.zeros((3, 5), np.float32))
    assert backend.allocations == 6


def test_a_turned_model_s_engine_takes_six_track_numbers_and_reads_five_as_upright(models, tmp_path) -> None:
    """A model whose crop turns (``track_columns`` 6): the profile and buffer are 6 wide, the parity check feeds
    angles on the rows that follow a box, and a pipeline's 5-number row reaches the engine with angle 0."""
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=tiny_track_outputs)
    backend = make_backend(models["turned"], tmp_path, (trt, cuda), max_batch=4)
    assert trt.configs[0].profiles[0].shapes["track"] == ((1, 6), (4, 6), (4, 6))
    assert backend.buffers["track"].capacity == 4 * 6
    parity = trt.fed[-1]["track"]  # the parity check's batch of 4: rows 1 and 3 follow a box, turned
    assert parity.shape == (4, 6) and (parity[1::2, 5] != 0).all() and (parity[0::2] == 0).all()
    frames, track = np.repeat(frames_of(1), 3, axis=0), track_of(3)
    out = backend.infer(frames, track)
    np.testing.assert_array_equal(trt.fed[-1]["track"], np.concatenate([track, np.zeros((3, 1), np.float32)], 1))
    np.testing.assert_allclose(out["box"], tiny_track_outputs(frames, track)["box"], atol=1e-4)


def test_parity_check_feeds_the_same_track_boxes_to_onnxruntime(models, tmp_path) -> None:
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=tiny_track_outputs)
    backend = make_backend(models["track"], tmp_path, (trt, cuda), max_batch=4)
    assert backend.built and backend.parity["pose3d_max_mm"] < 1e-3 and backend.parity["frames"] == 5
    assert [f["track"][:, 0].tolist() for f in trt.fed] == [[0.0], [0.0, 1.0, 0.0, 1.0]]  # rows that follow boxes
    blind = FakeTensorRT(FakeCuda(), run=lambda f, t: tiny_track_outputs(f, np.zeros_like(t)))  # ignores the track
    with pytest.raises(BackendError, match=r"fp32 pose error \d+\.\d mm > 5\.0 mm"):
        make_backend(models["track"], tmp_path / "blind", (blind, blind.cuda), max_batch=4)


def test_fp16_engine_takes_a_half_track_checked_against_the_fp32_export(models, tmp_path) -> None:
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=tiny_track_outputs)
    backend = make_backend(models["track_fp16"], tmp_path, (trt, cuda), precision="fp16",
                           reference_onnx=models["track"], max_batch=2)
    assert backend.buffers["track"].dtype == np.float16 and backend.parity["pose3d_max_mm"] < 0.1
    frames, track = frames_of(2), track_of(2)
    out = backend.infer(frames, track)  # fp16 outputs: ~0.06 steps near 128
    np.testing.assert_allclose(out["box"], tiny_track_outputs(frames, track)["box"], atol=0.07)


def test_track_is_refused_by_a_frames_only_engine_and_checked_on_a_track_engine(models, tmp_path, fakes) -> None:
    frames_only = make_backend(models["fp32"], tmp_path, fakes)
    with pytest.raises(BackendError, match="has no 'track' input"):
        frames_only.infer(frames_of(2), track_of(2))
    cuda = FakeCuda()
    tracked = make_backend(models["track"], tmp_path, (FakeTensorRT(cuda, run=tiny_track_outputs), cuda))
    for bad in (np.zeros((2, 4), np.float32), track_of(3), track_of(2).astype(np.float64)):
        with pytest.raises(BackendError, match=r"track must be float32 \(2, 5\)"):
            tracked.infer(frames_of(2), bad)


def test_engine_whose_inputs_differ_from_the_metadata_is_refused(models, tmp_path) -> None:
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=tiny_track_outputs)
    with pytest.raises(BackendError, match=r"engine inputs \['frames', 'track'\] .*whose inputs are \['frames'\]"):
        make_backend(models["track_unclaimed"], tmp_path, (trt, cuda))
    assert cuda.memory == {} and cuda.context_depth == 0


# ---- precision and parity ------------------------------------------------------------------------------


@pytest.mark.parametrize("precision, flags", [("fp32", 0), ("fp16", 1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED)])
def test_fp16_builds_a_strongly_typed_network_and_fp32_a_plain_one(models, tmp_path, fakes, precision, flags) -> None:
    trt, _ = fakes
    backend = make_backend(models[precision], tmp_path, fakes, precision=precision, reference_onnx=models["fp32"])
    assert [n.flags for n in trt.networks] == [flags]
    assert trt.configs[0].flags == set()  # no weakly typed BuilderFlag.FP16
    assert trt.configs[0].profiles[0].shapes["frames"] == ((1, H, W, 3), (8, H, W, 3), (8, H, W, 3))
    assert backend.infer(frames_of(2))["pose3d"].dtype == np.float32


def test_precision_must_match_the_onnx_float_type(models, tmp_path, fakes) -> None:
    with pytest.raises(BackendError, match="'fp16' needs an FP16 ONNX, but .*tiny.onnx is FP32"):
        make_backend(models["fp32"], tmp_path, fakes, precision="fp16")


def test_int8_is_refused_as_not_yet_supported(models, tmp_path, fakes) -> None:
    with pytest.raises(BackendError, match="'int8' is not supported .*Q/DQ"):
        make_backend(models["fp32"], tmp_path, fakes, precision="int8")


def test_parity_refuses_7_2_mm_and_accepts_0_4_mm() -> None:
    ref = tiny_outputs(frames_of(2))
    bad = compare_outputs(ref, tiny_outputs(frames_of(2), pose_offset_mm=7.2))
    good = compare_outputs(ref, tiny_outputs(frames_of(2), pose_offset_mm=0.4))
    assert bad["pose3d_max_mm"] == pytest.approx(7.2, abs=1e-4) and bad["box_max_px"] == 0.0
    assert refuse_precision(bad, 5.0, "fp16") == "fp16 pose error 7.2 mm > 5.0 mm tolerance"
    assert refuse_precision(good, 5.0, "fp16") is None


def test_parity_counts_nan_as_refused_and_checks_shapes() -> None:
    ref = tiny_outputs(frames_of(1))
    nan = {**ref, "pose3d": np.full_like(ref["pose3d"], np.nan)}
    assert refuse_precision(compare_outputs(ref, nan), 5.0) is not None
    with pytest.raises(ValueError, match="pose3d"):
        compare_outputs(ref, {**ref, "pose3d": ref["pose3d"][:, :5]})


def test_fp16_engine_beyond_tolerance_is_refused_then_reused_with_larger_tolerance(models, tmp_path) -> None:
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda, run=lambda f: tiny_outputs(f, pose_offset_mm=7.2))
    options = {"precision": "fp16", "reference_onnx": models["fp32"]}
    with pytest.raises(BackendError, match=r"fp16 pose error 7\.2 mm > 5\.0 mm tolerance"):
        make_backend(models["fp16"], tmp_path, (trt, cuda), **options)
    assert cuda.memory == {} and cuda.context_depth == 0
    backend = make_backend(models["fp16"], tmp_path, (trt, cuda), tolerance_mm=8.0, **options)
    assert not backend.built and trt.builds == 1


# ---- files and packages --------------------------------------------------------------------------------


def test_truncated_onnx_is_a_checkpoint_error(models, tmp_path, fakes) -> None:
    data = models["fp32"].read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.onnx"):
        make_backend(bad, tmp_path, fakes)
    with pytest.raises(CheckpointError, match="no such ONNX file"):
        make_backend(tmp_path / "missing.onnx", tmp_path, fakes)


def test_missing_tensorrt_is_a_backend_error_naming_the_extra(models, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # None in sys.modules makes the import fail
    with pytest.raises(BackendError) as info:
        TensorRTBackend(models["fp32"])
    assert str(info.value) == MISSING


def _need_real_tensorrt() -> None:
    reason = "needs the real tensorrt package and an NVIDIA GPU; not installable here"
    pytest.importorskip("tensorrt", reason=reason)
    pytest.importorskip("pycuda.driver", reason=reason)


@pytest.mark.gpu
def test_real_tensorrt_matches_onnxruntime(models, tmp_path) -> None:
    _need_real_tensorrt()
    with TensorRTBackend(models["fp32"], max_batch=4, cache_dir=tmp_path) as backend:
        frames = frames_of(3)
        out = backend.infer(frames)
        for name, expected in tiny_outputs(frames).items():
            np.testing.assert_allclose(out[name], expected, atol=1e-2)
    with TensorRTBackend(models["fp32"], max_batch=4, cache_dir=tmp_path) as again:
        assert not again.built
    assert os.listdir(tmp_path)


@pytest.mark.gpu
def test_real_tensorrt_feeds_the_track_input(models, tmp_path) -> None:
    _need_real_tensorrt()
    with TensorRTBackend(models["track"], max_batch=4, cache_dir=tmp_path) as backend:
        assert backend.parity["pose3d_max_mm"] < 1e-2  # the build's check fed both inputs to ONNX Runtime
        frames, track = frames_of(3), track_of(3)
        for fed in (track, None):
            out = backend.infer(frames, fed)
            for name, expected in tiny_track_outputs(frames, np.zeros_like(track) if fed is None else fed).items():
                np.testing.assert_allclose(out[name], expected, atol=1e-2)
