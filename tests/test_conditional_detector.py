"""The exported pose network with MediaPipe's person detector: large weights stored as float16
(``engines/weight_storage.py``) and the person detector run only on frames without a crop to follow
(``engines/conditional_detector.py``), checked against the torch graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engines.weight_storage import PERSON_DETECTOR
from train.posenet.config import PoseNetConfig
from train.posenet.model import PoseNet


def test_store_half_keeps_names_and_halves_only_large_weights(tmp_path: Path):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from engines.weight_storage import store_half

    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 32)).astype(np.float32)  # 2048 values: stored as float16
    b = rng.normal(size=(32,)).astype(np.float32)  # 32: stays float32
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert store_half(model) == 1
    onnx.checker.check_model(model)
    kinds = {i.name: i.data_type for i in model.graph.initializer}
    assert kinds == {"w__f16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    x = rng.normal(size=(2, 64)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, x @ w.astype(np.float16).astype(np.float32) + b, rtol=1e-5, atol=1e-5)


def _int8_stored(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as an export with the int8 person detector stores it (``engines.weight_storage``)."""
    from engines.weight_storage import MIN_ELEMENTS, quantize_int8

    if tensor.dim() < 2 or tensor.numel() < MIN_ELEMENTS:
        return tensor
    q, scale = quantize_int8(tensor.numpy())
    return torch.from_numpy(q.astype(np.float32) * scale)


def test_store_int8_keeps_names_and_stores_one_scale_per_output_channel():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from engines.weight_storage import quantize_int8, store_half, store_int8

    q, scale = quantize_int8(np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], np.float32))
    np.testing.assert_array_equal(q, [[64, -127, 32], [0, 0, 0]])  # 63.5 and 31.75 rounded; a zero channel
    np.testing.assert_allclose(scale.ravel(), [2 / 127, 1.0])
    rng = np.random.default_rng(0)
    w = rng.normal(size=(32, 64)).astype(np.float32)  # (out, in) as a Gemm with transB reads it: 2048 values
    other = rng.normal(size=(32, 64)).astype(np.float32)  # not under the prefix: float16
    nodes = [helper.make_node("Gemm", ["x", "net.person_detector.w"], ["a"], transB=1),
             helper.make_node("Gemm", ["x", "net.head.w"], ["b"], transB=1), helper.make_node("Add", ["a", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
                              [numpy_helper.from_array(w, "net.person_detector.w"),
                               numpy_helper.from_array(other, "net.head.w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert store_int8(model, ("net.person_detector.",)) == 1 and store_half(model) == 1
    onnx.checker.check_model(model)
    kinds = {i.name: i.data_type for i in model.graph.initializer}
    assert kinds == {"net.person_detector.w__i8": TensorProto.INT8, "net.person_detector.w__scale": TensorProto.FLOAT,
                     "net.head.w__f16": TensorProto.FLOAT16}
    x = rng.normal(size=(2, 64)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    q, scale = quantize_int8(w)
    want = x @ (q * scale).T + x @ other.astype(np.float16).astype(np.float32).T
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(q * scale - w).max() <= np.abs(w).max(1).max() / 127 / 2 + 1e-7  # half a step at most


def test_a_model_over_the_embedded_limit_stores_the_detector_then_the_head_as_int8(monkeypatch, tmp_path: Path):
    """``store_weights`` with no choice: nothing in int8 where the float16 file fits; over the limit the person
    detector first, and the head too where that is not enough (a landmark head: its weights keep their names in
    the graph); each step makes the file smaller."""
    from engines import export
    from engines.export import OPSET, export_posenet, store_weights
    from engines.posenet_graph import build_posenet_graph
    from engines.weight_storage import HEAD, INT8_ORDER
    from train.checkpoint import load_checkpoint, save_checkpoint

    assert INT8_ORDER == (PERSON_DETECTOR, HEAD)
    torch.manual_seed(0)
    cfg = PoseNetConfig(frame_size=(72, 128), detector_stride=2, detector_width=4, crop_size=256, width=4,
                        head_trunk="blazepose_lite", head_read="landmarks", detector="boxnet+blazepose")
    tmp = tmp_path
    ckpt = save_checkpoint(tmp / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}}, step=1,
                           model=PoseNet(cfg))
    graph, meta = build_posenet_graph(load_checkpoint(ckpt))
    export_posenet(graph, meta, str(tmp / "m.onnx"), OPSET)
    exported = onnx.load(str(tmp / "m.onnx"))

    def stored(limit, int8=None):
        monkeypatch.setattr(export, "EMBEDDED_MAX_BYTES", limit)
        model = onnx.ModelProto()
        model.CopyFrom(exported)
        chosen = store_weights(model, int8)
        names = {i.name for i in model.graph.initializer} | {i.name for n in model.graph.node
                                                             for a in n.attribute for i in a.g.initializer}
        return chosen, model.ByteSize(), {p for p in INT8_ORDER if any(n.startswith(p) and n.endswith("__i8")
                                                                       for n in names)}

    half, size_half, int8_half = stored(10**9)
    detector, size_detector, int8_detector = stored(size_half - 1)
    both, size_both, int8_both = stored(size_detector - 1)
    assert (half, detector, both) == ((), (PERSON_DETECTOR,), (PERSON_DETECTOR, HEAD))
    assert (int8_half, int8_detector, int8_both) == (set(), {PERSON_DETECTOR}, {PERSON_DETECTOR, HEAD})
    assert size_half > size_detector > size_both
    assert stored(1)[0] == both  # nothing more to store smaller: both, over the limit all the same
    assert stored(10**9, (HEAD,))[2] == {HEAD}  # a choice is taken as given


@pytest.fixture(scope="module", params=["frame", "square", "frame-int8"])
def exported(tmp_path_factory, request):
    """A tiny pose network with the person detector (random weights, scaled down), exported; its torch graph. With
    either view: the 16:9 frame, or the square a detector frame's track row names (its crop goes into the branch);
    "-int8": the person detector's weights stored as int8 (the torch graph's rounded the same way)."""
    from engines.export import export_onnx
    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint, save_checkpoint

    tmp = tmp_path_factory.mktemp(f"cond-{request.param}")
    torch.manual_seed(0)
    cfg = PoseNetConfig(frame_size=(72, 128), detector_stride=2, detector_width=4, crop_size=32, width=4,
                        up_channels=8, detector="boxnet+blazepose", detector_min_score=0.6,
                        person_view=request.param.split("-")[0])
    net = PoseNet(cfg)
    with torch.no_grad():
        for p in net.person_detector.parameters():
            p.mul_(0.1)
    ckpt = save_checkpoint(tmp / "last.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}}, step=1,
                           model=net)
    int8 = request.param.endswith("-int8")
    meta = export_onnx(ckpt, tmp / "m.onnx", int8=(PERSON_DETECTOR,) if int8 else ())
    graph, _ = build_posenet_graph(load_checkpoint(ckpt))
    if int8:
        with torch.no_grad():
            for p in graph.net.person_detector.parameters():
                p.copy_(_int8_stored(p))
    return tmp / "m.onnx", meta, graph


def _run(exported, frames: np.ndarray, track: np.ndarray):
    import onnxruntime as ort

    path, meta, graph = exported
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        list(meta.outputs), {"frames": frames, "track": track})
    with torch.no_grad():
        want = graph(torch.from_numpy(frames), torch.from_numpy(track))
    return dict(zip(meta.outputs, got)), dict(zip(meta.outputs, (w.numpy() for w in want))), graph


def test_the_person_detector_sits_in_a_branch_and_the_file_stores_half_weights(exported):
    model = onnx.load(str(exported[0]))
    branch = [n for n in model.graph.node if n.op_type == "If"]
    assert len(branch) == 1 and not any(n.name.startswith("/net/person_detector/") for n in model.graph.node)
    then = next(a.g for a in branch[0].attribute if a.name == "then_branch")
    assert sum(n.op_type == "Conv" for n in then.node) > 50  # MediaPipe's detector network
    assert len(then.initializer) > 50  # its weights are the branch's own (read from outside they cost 8 ms a run)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    int8 = [i.name for i in then.initializer if i.data_type == onnx.TensorProto.INT8]
    if "int8" in exported[0].parent.name:  # each with its Cast and Mul, in the branch, none left outside
        assert len(int8) > 50 and all(n.startswith("net.person_detector.") for n in int8)
        assert {n.input[0] for n in then.node if n.op_type == "Cast"} >= set(int8)
        assert not any(i.data_type == onnx.TensorProto.INT8 for i in model.graph.initializer)
        assert not any(n.name.endswith("__i8_scaled") for n in model.graph.node)
    else:
        assert not int8


def test_detector_frames_and_mixed_batches_match_torch(exported):
    frames = np.random.default_rng(1).integers(0, 256, (4, 72, 128, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [0, 0, 0, 0, 0], [1, -0.2, 0.1, 0.3, 0.3],
                      [0, 0.1, -0.1, 0.4, 0.4 * 128 / 72]], np.float32)  # the last names a square view
    # one detector frame; a batch where one frame needs the detector; two detector frames, one with a view
    for rows in (slice(1, 2), slice(0, 3), slice(1, 4, 2)):
        got, want, _ = _run(exported, frames[rows], track[rows])
        for name in got:
            tol = 0.5 if name == "pose3d" else 1e-2  # mm / px
            assert np.abs(got[name] - want[name]).max() < tol, name


def test_tracked_frames_skip_the_person_detector_and_report_boxnet_s_map(exported):
    frames = np.random.default_rng(2).integers(0, 256, (2, 72, 128, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [1, -0.2, 0.1, 0.3, 0.3]], np.float32)
    got, want, graph = _run(exported, frames, track)
    for name in ("box", "pose2d", "pose3d", "conf"):  # the crop follows the track row either way
        tol = 0.5 if name == "pose3d" else 1e-2
        assert np.abs(got[name] - want[name]).max() < tol, name
    with torch.no_grad():
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
        boxnet_map = graph.net.detect(torch.nn.functional.avg_pool2d(x, 2), 255.0)[2].numpy()
    np.testing.assert_allclose(got["detections"], boxnet_map, atol=1e-4)
    assert got["person"].shape == (2, 5) and (got["person"][:, 0] < 1e-30).all()  # nobody: it did not run


def test_a_checkpoint_recovered_from_the_export_finds_the_branch_s_weights(exported):
    """``adapt`` starts from the installed model's ONNX: the person detector's weights inside the If come back."""
    from train.posenet.from_onnx import recover

    path, meta, graph = exported
    net, _ = recover(path)
    int8 = "int8" in path.parent.name  # the fixture's graph holds what int8 stores; the rest is float16
    for name, tensor in graph.net.person_detector.state_dict().items():
        want = tensor.half().float() if tensor.numel() >= 1024 and not (int8 and tensor.dim() >= 2) else tensor
        torch.testing.assert_close(net.person_detector.state_dict()[name], want, rtol=1e-6, atol=0), name


def test_a_model_written_again_with_the_square_view_reads_the_named_square(exported, tmp_path):
    """``train.posenet.person_view``: the same weights, the person detector reading the square a detector frame's
    track row names; a followed frame's outputs stay the source's, and its config says which view it reads."""
    import onnxruntime as ort

    from train.posenet.from_onnx import recover
    from train.posenet.person_view import with_person_view

    path, meta, _ = exported
    meta2 = with_person_view(path, tmp_path / "v.onnx", "square")
    assert meta2.config["model"]["person_view"] == "square"
    frames = np.random.default_rng(3).integers(0, 256, (2, 72, 128, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [0, -0.3, 0.0, 0.5, 0.5 * 128 / 72]], np.float32)
    run = [dict(zip(meta.outputs, ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
        list(meta.outputs), {"frames": frames[i:i + 1], "track": track[i:i + 1]}))) for p in (path, tmp_path / "v.onnx")
        for i in range(2)]
    for name in ("box", "pose2d", "conf"):  # the followed frame: the crop does not depend on the detector
        np.testing.assert_allclose(run[0][name], run[2][name], atol=1e-3)
    net, _ = recover(tmp_path / "v.onnx")
    assert net.cfg.person_view == "square"
    with torch.no_grad():
        want = net.detect_frames(torch.from_numpy(frames[1:]).permute(0, 3, 1, 2).float(), 255.0, person=True,
                                 view=torch.from_numpy(track[1:, 1:]))[4].numpy()
    np.testing.assert_allclose(run[3]["person"], want, atol=1e-3)


def test_an_upright_source_runs_the_square_view_twin_written_once(exported, tmp_path):
    """``tvstream.detector_view``: a landscape source keeps the model; an upright one (portrait or square) gets the
    square-view twin of a frame-view model, written once into the cache and reused; a square-view model is kept."""
    from tvstream.detector_view import model_for_source, upright
    from tvstream.frame_fit import FrameFit

    path, meta, _ = exported
    wide, tall, even = (FrameFit.of(size, (72, 128)) for size in ((720, 1280), (1280, 720), (500, 500)))
    assert not upright(wide) and upright(tall) and upright(even)
    assert model_for_source(path, meta, wide, tmp_path) is None and not any(tmp_path.iterdir())
    twin = model_for_source(path, meta, tall, tmp_path)
    if meta.config["model"]["person_view"] == "square":
        assert twin is None
        return
    from engines.backends import load_backend

    assert twin.parent == tmp_path and load_backend(twin, "onnxruntime").metadata.config["model"]["person_view"] == \
        "square"
    written = twin.stat().st_mtime_ns
    assert model_for_source(path, meta, even, tmp_path) == twin and twin.stat().st_mtime_ns == written


def test_a_twin_on_a_frame_twice_as_large_reads_what_the_model_reads_on_the_frame(exported, tmp_path):
    """``frame_scale`` 2 (``tvstream run --sharp``): the same weights on a working frame twice the size, the box
    detector's stride and MediaPipe's frame-view pooling doubled. On a frame upscaled 2x by repetition the detectors
    read exactly what the model reads on the frame, and a large crop is cut from the frame pooled back (the same
    pixels): every output agrees, in the twin's pixels twice the model's."""
    import onnxruntime as ort

    from train.posenet.person_view import with_person_view

    path, meta, _ = exported
    view = meta.config["model"]["person_view"]
    twin = with_person_view(path, tmp_path / "x2.onnx", view, frame_scale=2)
    assert twin.input_size == (144, 256) and twin.config["model"]["frame_scale"] == 2
    assert twin.config["model"]["detector_stride"] == 2 * meta.config["model"]["detector_stride"]
    frames = np.random.default_rng(5).integers(0, 256, (2, 72, 128, 3), dtype=np.uint8)
    big = frames.repeat(2, axis=1).repeat(2, axis=2)
    # a detector frame (the view row of the whole frame), and a followed frame whose crop spans 2x its samples
    track = np.array([[0, 0, 0, 1.0, 128 / 72], [1, 0.1, 0.0, 0.3, 0.6]], np.float32)
    one, two = ({k: v for k, v in zip(meta.outputs, ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                                      .run(list(meta.outputs), {"frames": f, "track": track}))}
                for p, f in ((path, frames), (tmp_path / "x2.onnx", big)))
    np.testing.assert_allclose(two["box"], 2 * one["box"], atol=0.05)  # pixel edges: twice as far
    np.testing.assert_allclose(two["pose2d"], 2 * one["pose2d"] + 0.5, atol=0.05)  # pixel centres at integers
    np.testing.assert_allclose(two["pose3d"], one["pose3d"], atol=0.05)
    np.testing.assert_allclose(two["conf"], one["conf"], atol=1e-4)
    np.testing.assert_allclose(two["person"], one["person"], atol=1e-4)


def test_a_person_finder_returns_the_square_twin_s_person_without_the_rest_of_the_graph(exported, tmp_path):
    """``train.posenet.person_view.write_finder`` (the second look's search in squares): MediaPipe's detector alone,
    reading the square each row names; its person is the square-view twin's, for any frame view of the source."""
    import onnxruntime as ort

    from engines.backends import load_backend
    from train.posenet.person_view import with_person_view, write_finder

    path, meta, _ = exported
    finder = write_finder(path, tmp_path / "finder.onnx")
    assert finder.outputs == ("person",) and finder.config["kind"] == "posenet-finder"
    twin = with_person_view(path, tmp_path / "square.onnx", "square")
    frames = np.random.default_rng(7).integers(0, 256, (2, 72, 128, 3), dtype=np.uint8)
    tiles = np.array([[0, -0.4375, 0, 0.5625, 1], [0, 0.4375, 0, 0.5625, 1]], np.float32)
    want = ort.InferenceSession(str(tmp_path / "square.onnx"), providers=["CPUExecutionProvider"]).run(
        ["person"], {"frames": frames, "track": tiles})[0]
    got = load_backend(tmp_path / "finder.onnx", "onnxruntime").infer(frames, track=tiles)["person"]
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert twin.outputs[-1] == "person" and not np.allclose(got[0], got[1])  # two squares, two answers


def test_a_fast_twin_reads_each_crop_once_as_the_model_read_one_way_does(exported, tmp_path):
    """``tvstream run --fast``: a model that reads each crop also mirrored gets a twin (same weights, written once
    into the cache) that reads it once: its outputs are those of the same weights read one way, not the mean."""
    import onnxruntime as ort

    from engines.backends import load_backend
    from train.posenet.person_view import with_person_view
    from tvstream.detector_view import model_for_source
    from tvstream.frame_fit import FrameFit

    path, meta, _ = exported
    view = meta.config["model"]["person_view"]
    both = with_person_view(path, tmp_path / "both.onnx", view, mirror_read=True)
    assert both.config["model"]["mirror_read"] and not meta.config["model"].get("mirror_read", False)
    wide = FrameFit.of((720, 1280), (72, 128))
    assert model_for_source(tmp_path / "both.onnx", both, wide, tmp_path / "cache") is None  # not asked: as it is
    twin = model_for_source(tmp_path / "both.onnx", both, wide, tmp_path / "cache", fast=True)
    assert twin.parent == tmp_path / "cache" and not load_backend(twin, "onnxruntime").metadata.config["model"][
        "mirror_read"]
    frames = np.random.default_rng(4).integers(0, 256, (2, 72, 128, 3), dtype=np.uint8)
    track = np.array([[1, 0.1, 0.0, 0.2, 0.45], [1, -0.2, 0.1, 0.3, 0.3]], np.float32)
    once, mean, fast = ({k: v for k, v in zip(meta.outputs, ort.InferenceSession(str(p), providers=[
        "CPUExecutionProvider"]).run(list(meta.outputs), {"frames": frames, "track": track}))}
        for p in (path, tmp_path / "both.onnx", twin))
    for name, tol in (("pose2d", 1e-2), ("pose3d", 0.5), ("conf", 1e-3)):
        np.testing.assert_allclose(fast[name], once[name], atol=tol, err_msg=name)
    assert np.abs(mean["pose2d"] - once["pose2d"]).max() > 0.1  # read both ways, the mean differs
