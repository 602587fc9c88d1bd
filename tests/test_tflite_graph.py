"""A .tflite network read into torch: tiny files written by tiny_tflite.py, checked against NumPy in NHWC."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tiny_tflite import TinyTflite
from train.pretrained.tflite_graph import TfliteGraph, node_kinds, read_tflite

ACTS = {"NONE": lambda v: v, "RELU": lambda v: np.maximum(v, 0), "RELU6": lambda v: np.clip(v, 0, 6)}


# --- the reference: TensorFlow Lite's semantics written directly in NHWC, float64 --------------------------------


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF's SAME padding (before, after): the odd pixel goes after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def ref_conv(x, w, b, stride=1, padding="SAME", act="NONE", depthwise=False):
    """x (N, H, W, C); w (O, kh, kw, C), or with ``depthwise`` (1, kh, kw, C)."""
    kh, kw = w.shape[1:3]
    if padding == "SAME":
        x = np.pad(x, ((0, 0), same_pad(x.shape[1], kh, stride), same_pad(x.shape[2], kw, stride), (0, 0)))
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3] if depthwise else w.shape[0])) + b
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
            out += patch * w[0, i, j] if depthwise else np.einsum("nhwc,oc->nhwo", patch, w[:, i, j, :])
    return ACTS[act](out)


def ref_max_pool(x, k, stride, padding="SAME"):
    if padding == "SAME":
        pads = ((0, 0), same_pad(x.shape[1], k, stride), same_pad(x.shape[2], k, stride), (0, 0))
        x = np.pad(x, pads, constant_values=-np.inf)
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    return np.max([x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                   for i in range(k) for j in range(k)], axis=0)


def ref_resize(x, size):
    """Bilinear, half-pixel centres: src = (dst + 0.5) / scale - 0.5, clamped to the edge pixels."""
    def weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for d in range(n_out):
            src = max((d + 0.5) * n_in / n_out - 0.5, 0.0)
            lo = min(int(np.floor(src)), n_in - 1)
            hi, frac = min(lo + 1, n_in - 1), src - lo
            m[d, lo] += 1 - frac
            m[d, hi] += frac
        return m
    return np.einsum("ih,jw,nhwc->nijc", weights(x.shape[1], size[0]), weights(x.shape[2], size[1]), x)


def fp16(a):
    return a.astype(np.float16).astype(np.float64)


def run(spec, state, x):
    """The torch module on NHWC ``x``, back in NHWC."""
    model = TfliteGraph(spec)
    model.load_tflite_state(state)
    with torch.no_grad():
        y = model(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
    return y.numpy().transpose(0, 2, 3, 1)


def image(h, w, n=1, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n, h, w, 3))


# --- the tiny net: conv (fp16 weights) -> pad + depthwise stride 2 -> 1x1 -> resize x2 -> + skip -> 1x1 ----------

PADS = [[0, 0], [1, 0], [0, 1], [0, 0]]  # asymmetric: top and right only, so a top/left swap shows


def tiny_weights():
    """(weights, bias) of each layer: convs (O, kh, kw, I), the depthwise (1, kh, kw, C)."""
    rng = np.random.default_rng(0)
    shapes = {"c1": (4, 3, 3, 3), "dw": (1, 3, 3, 4), "c2": (4, 1, 1, 4), "out": (5, 1, 1, 4)}
    scales = {"c1": 2.0, "dw": 0.5, "c2": 0.5, "out": 0.5}  # c1 large enough for its RELU6 to clip
    return {k: (rng.normal(0, scales[k], s), rng.normal(0, 0.5, max(s[0], s[3]))) for k, s in shapes.items()}


def write_tiny_net(path, h=8, w=8):
    wt = tiny_weights()
    net = TinyTflite((1, h, w, 3))
    c1 = net.conv(net.input, *wt["c1"], act="RELU6", float16=True, name="c1")
    dw = net.depthwise(net.pad(c1, PADS), *wt["dw"], stride=2, padding="VALID", name="dw")
    c2 = net.conv(dw, *wt["c2"], name="c2")
    skip = net.add(net.resize_bilinear(c2, (h, w), name="up"), c1, act="RELU", name="skip")
    net.conv(skip, *wt["out"], name="out")
    net.write(path)
    return wt


def tiny_reference(x, wt):
    (w1, b1) = wt["c1"]
    c1 = ref_conv(x, fp16(w1), fp16(b1), act="RELU6")
    dw = ref_conv(np.pad(c1, PADS), *wt["dw"], stride=2, padding="VALID", depthwise=True)
    up = ref_resize(ref_conv(dw, *wt["c2"]), c1.shape[1:3])
    return ref_conv(np.maximum(up + c1, 0), *wt["out"])


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.tflite"
    wt = write_tiny_net(path)
    spec, state = read_tflite(path, "out")
    return spec, state, wt


def test_helper_writes_a_tflite_flatbuffer(tmp_path):
    import tflite

    write_tiny_net(tmp_path / "tiny.tflite")
    data = (tmp_path / "tiny.tflite").read_bytes()
    assert data[4:8] == b"TFL3"
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    assert model.Version() == 3 and model.Buffers(0).DataLength() == 0
    tensors = {graph.Tensors(i).Name().decode(): graph.Tensors(i) for i in range(graph.TensorsLength())}
    assert tensors["c1/weights_fp16"].Type() == tflite.TensorType.FLOAT16
    assert tensors["c1/weights_fp16"].ShapeAsNumpy().tolist() == [4, 3, 3, 3]
    assert tensors["up"].ShapeAsNumpy().tolist() == [1, 8, 8, 4]


def test_tiny_net_matches_numpy_reference(tiny):
    spec, state, wt = tiny
    assert list(node_kinds(spec)) == ["conv", "pad", "conv", "conv", "resize", "add", "conv"]
    assert spec["channels"] == 5
    assert [n["act"] for n in spec["nodes"] if n["op"] == "conv"] == ["relu6", None, None, None]
    # float16 weights behind DEQUANTIZE, widened exactly; (O, kh, kw, I) -> (O, I, kh, kw); depthwise -> (C, 1, kh, kw)
    np.testing.assert_array_equal(state["n0.weight"].numpy(), fp16(wt["c1"][0]).transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(state["n0.bias"].numpy(), fp16(wt["c1"][1]))
    np.testing.assert_allclose(state["n2.weight"].numpy(), wt["dw"][0].transpose(3, 0, 1, 2), rtol=1e-6)
    assert all(v.dtype == torch.float32 for v in state.values())

    x = image(8, 8, n=2)
    got, want = run(spec, state, x), tiny_reference(x, wt)
    assert got.shape == want.shape == (2, 8, 8, 5)
    assert np.abs(want).max() > 0.5  # not a degenerate all-zero comparison
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("size", [(16, 16), (12, 20)])
def test_runs_at_other_input_sizes(tiny, size):
    spec, state, wt = tiny  # the file says 8x8; the resize is a scale, SAME padding follows the size
    x = image(*size)
    got, want = run(spec, state, x), tiny_reference(x, wt)
    assert got.shape == (1, *size, 5)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_spec_is_json_and_rebuilds_the_same_module(tiny):
    spec, state, _ = tiny
    again = json.loads(json.dumps(spec))
    x = image(8, 8)
    assert np.array_equal(run(again, state, x), run(spec, state, x))


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("size", [(8, 8), (7, 7), (8, 7), (9, 6)])
def test_same_padding_at_stride_2(tmp_path, size, kernel):
    """SAME at stride 2 pads the odd pixel after (bottom/right), for conv, depthwise and max pool alike."""
    assert same_pad(8, 3, 2) == (0, 1) and same_pad(7, 2, 2) == (0, 1)  # the cases below are asymmetric
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(4, kernel, kernel, 3)), rng.normal(size=4)
    dw, db = rng.normal(size=(1, kernel, kernel, 4)), rng.normal(size=4) - 30  # all negative into the max pool
    net = TinyTflite((1, *size, 3))
    c = net.conv(net.input, w, b, stride=2, float16=True)
    d = net.depthwise(c, dw, db, stride=2, padding="SAME")
    net.max_pool(d, kernel, 2, padding="SAME", name="out")
    net.write(tmp_path / "same.tflite")
    spec, state = read_tflite(tmp_path / "same.tflite", "out")

    x = image(*size, n=2)
    c = ref_conv(x, fp16(w), fp16(b), stride=2)
    want = ref_max_pool(ref_conv(c, dw, db, stride=2, depthwise=True), kernel, 2)
    assert want.max() < 0  # so padding the max pool with 0 instead of -inf would show
    got = run(spec, state, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_reads_only_the_ops_the_tensor_depends_on(tmp_path):
    rng = np.random.default_rng(3)
    net = TinyTflite((1, 8, 8, 3))
    wa = rng.normal(size=(4, 3, 3, 3))
    a = net.conv(net.input, wa, float16=True, name="a")
    net.conv(a, rng.normal(size=(2, 1, 1, 4)), name="out")
    net.conv(a, rng.normal(size=(3, 1, 1, 4)), name="side")  # reads a, but "out" does not need it
    branch = net.conv(net.input, rng.normal(size=(2, 3, 3, 3)), float16=True, name="branch")
    net.op("SOFTMAX", [branch], net.shape(branch), name="branch_sigmoid")  # unsupported, but not on the path
    net.write(tmp_path / "two.tflite", outputs=["out", "side", "branch_sigmoid"])

    spec, state = read_tflite(tmp_path / "two.tflite", "out")
    assert [n["out"] for n in spec["nodes"]] == [net.index("a"), net.index("out")]
    assert spec["input"] == net.index("input") and spec["output"] == net.index("out") and spec["channels"] == 2
    assert sorted(state) == ["n0.bias", "n0.weight", "n1.bias", "n1.weight"]
    np.testing.assert_array_equal(state["n0.weight"].numpy(), fp16(wa).transpose(0, 3, 1, 2))

    spec, state = read_tflite(tmp_path / "two.tflite", "branch")
    assert [n["out"] for n in spec["nodes"]] == [net.index("branch")]


@pytest.mark.parametrize("kind", ["SOFTMAX", "RESHAPE"])
def test_unsupported_op_on_the_path_is_an_error_naming_it(tmp_path, kind):
    rng = np.random.default_rng(4)
    net = TinyTflite((1, 8, 8, 3))
    a = net.conv(net.input, rng.normal(size=(4, 3, 3, 3)), name="a")
    inputs = [a, net.tensor("new_shape", (4,), np.array([1, 8, 8, 4], np.int32))] if kind == "RESHAPE" else [a]
    mid = net.op(kind, inputs, net.shape(a), name="mid")
    net.conv(mid, rng.normal(size=(2, 1, 1, 4)), name="out")
    net.write(tmp_path / "bad.tflite")

    with pytest.raises(ValueError, match=f"{kind} -> mid"):
        read_tflite(tmp_path / "bad.tflite", "out")
    spec, _ = read_tflite(tmp_path / "bad.tflite", "a")  # before the op is fine
    assert list(node_kinds(spec)) == ["conv"]
    with pytest.raises(KeyError, match="no_such_tensor"):
        read_tflite(tmp_path / "bad.tflite", "no_such_tensor")


def test_a_classifier_branch_reads_the_trunk_s_tapped_tensor(tmp_path):
    """A presence flag on a trunk, as MediaPipe's landmark networks have one: the branch is read from the
    trunk's inner tensor (``start_after``), the trunk hands it over (``taps``), and a VALID 2x2 convolution,
    LOGISTIC and RESHAPE give (N, 1) probabilities equal to NumPy's."""
    rng = np.random.default_rng(7)
    net = TinyTflite((1, 8, 8, 3))
    wa, wb, wt = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=(4, 3, 3, 4)) * 0.3, rng.normal(size=(2, 1, 1, 4))
    wf, bf = rng.normal(size=(1, 2, 2, 4)) * 0.3, rng.normal(size=(1,))
    a = net.conv(net.input, wa, stride=2, act="RELU", name="a")  # 4x4
    net.conv(a, wt, name="trunk_out")
    b = net.conv(a, wb, stride=2, act="RELU6", name="b")  # 2x2
    logit = net.conv(b, wf, bf, padding="VALID", name="logit")  # 1x1
    sig = net.op("LOGISTIC", [logit], net.shape(logit), name="sig")
    net.op("RESHAPE", [sig, net.tensor("flag_shape", (2,), np.array([1, 1], np.int32))], (1, 1), name="flag")
    net.write(tmp_path / "flag.tflite", outputs=["trunk_out", "flag"])

    trunk, trunk_state = read_tflite(tmp_path / "flag.tflite", "trunk_out")
    branch, branch_state = read_tflite(tmp_path / "flag.tflite", "flag",
                                       start_after=[n["out"] for n in trunk["nodes"]])
    assert branch["input"] == net.index("a") and list(node_kinds(branch)) == ["conv", "conv", "sigmoid", "flatten"]
    x = image(8, 8, n=2, seed=3)
    body, head = TfliteGraph(trunk, taps=(net.index("a"),)), TfliteGraph(branch)
    body.load_tflite_state(trunk_state)
    head.load_tflite_state(branch_state)
    with torch.no_grad():
        out, tapped = body(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
        flag = head(tapped)
    ra = ref_conv(x, wa, 0, stride=2, act="RELU")
    np.testing.assert_allclose(out.numpy().transpose(0, 2, 3, 1), ref_conv(ra, wt, 0), atol=1e-4)
    rl = ref_conv(ref_conv(ra, wb, 0, stride=2, act="RELU6"), wf, bf, padding="VALID")  # (2, 1, 1, 1)
    assert flag.shape == (2, 1)
    np.testing.assert_allclose(flag.numpy(), 1 / (1 + np.exp(-rl.reshape(2, 1))), atol=1e-5)
    with pytest.raises(ValueError, match="reads 0 of the given tensors and the image"):
        read_tflite(tmp_path / "flag.tflite", "flag", start_after=[net.index("trunk_out")])
    with pytest.raises(ValueError, match="not tensors of this graph"):
        TfliteGraph(trunk, taps=(net.index("b"),))


def test_add_of_a_tensor_to_itself(tmp_path):
    net = TinyTflite((1, 4, 4, 3))
    w = np.random.default_rng(5).normal(size=(2, 1, 1, 3))
    c = net.conv(net.input, w, name="c")
    net.add(c, c, name="out")
    net.write(tmp_path / "double.tflite")
    spec, state = read_tflite(tmp_path / "double.tflite", "out")
    x = image(4, 4)
    np.testing.assert_allclose(run(spec, state, x), 2 * ref_conv(x, w, 0), atol=1e-4)


def test_depth_to_space_follows_tensorflow_s_order_and_other_heads_are_read_too(tmp_path):
    """DEPTH_TO_SPACE as TensorFlow orders it (output pixel (2h + i, 2w + j), channel c = input channel
    (2i + j) * C + c), and ``also`` reads a second head of the same trunk, handed over as a tap."""
    rng = np.random.default_rng(11)
    net = TinyTflite((1, 4, 6, 3))
    wa, wb = rng.normal(size=(8, 1, 1, 3)), rng.normal(size=(2, 1, 1, 3))
    a = net.conv(net.input, wa, name="a")  # (1, 4, 6, 8)
    net.depth_to_space(a, 2, name="up")  # (1, 8, 12, 2)
    net.conv(net.input, wb, name="other")
    net.write(tmp_path / "d2s.tflite", outputs=["up", "other"])
    spec, state = read_tflite(tmp_path / "d2s.tflite", "up", also=["other"])
    assert list(node_kinds(spec)) == ["conv", "depth_to_space", "conv"] and spec["also"] == [net.index("other")]
    graph = TfliteGraph(spec, taps=tuple(spec["also"]))
    graph.load_tflite_state(state)
    x = image(4, 6, n=2)
    with torch.no_grad():
        up, other = graph(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
    ra = ref_conv(x, wa, 0)  # (2, 4, 6, 8) NHWC
    want = np.zeros((2, 8, 12, 2))
    for i in range(2):
        for j in range(2):
            want[:, i::2, j::2, :] = ra[..., (2 * i + j) * 2:(2 * i + j) * 2 + 2]
    np.testing.assert_allclose(up.numpy().transpose(0, 2, 3, 1), want, atol=1e-5)
    np.testing.assert_allclose(other.numpy().transpose(0, 2, 3, 1), ref_conv(x, wb, 0), atol=1e-5)


def test_sparse_weights_are_made_dense():
    """TensorFlow Lite's CSR storage (a DENSIFY op's input), by hand: [[0, 5, 0], [7, 0, 8]] stores the values
    5, 7, 8, row segments [0, 1, 3] and column indices [1, 0, 2]; a dense leading dimension repeats the rows."""
    from train.pretrained.tflite_graph import densify

    csr = (0, np.array([0, 1, 3]), np.array([1, 0, 2]))
    np.testing.assert_array_equal(densify((2, 3), np.array([5.0, 7.0, 8.0]), [(2, None, None), csr]),
                                  [[0, 5, 0], [7, 0, 8]])
    weights = densify((2, 1, 2), np.array([1.0, 2.0]), [(2, None, None), (1, None, None),
                                                        (0, np.array([0, 1, 2]), np.array([1, 0]))])
    np.testing.assert_array_equal(weights, [[[0, 1]], [[2, 0]]])
    with pytest.raises(ValueError, match="3 values stored, 2 places"):
        densify((2, 2), np.array([1.0, 2.0, 3.0]), [(2, None, None), (0, np.array([0, 1, 2]), np.array([0, 1]))])


def test_convolutions_do_their_own_zero_padding_where_it_is_symmetric(tmp_path):
    """A stride-1 SAME conv and a VALID conv behind a symmetric PAD pad inside the conv (no Pad node in the ONNX
    export, which ONNX Runtime ran unfused); an asymmetric PAD and a PAD read twice stay; numbers as TFLite's."""
    import onnx

    rng = np.random.default_rng(3)
    w = {k: (rng.normal(0, 0.5, s), rng.normal(0, 0.5, s[0] if k != "dw" else s[3]))
         for k, s in {"c1": (4, 3, 3, 3), "c5": (4, 5, 5, 4), "dw": (1, 3, 3, 4), "c2": (4, 3, 3, 4),
                      "c3": (4, 1, 1, 4)}.items()}
    sym, asym = [[0, 0], [2, 2], [1, 1], [0, 0]], [[0, 0], [1, 0], [0, 1], [0, 0]]
    net = TinyTflite((1, 10, 12, 3))
    c1 = net.conv(net.input, *w["c1"], act="RELU6", name="c1")  # SAME, 3x3, stride 1: folds
    c5 = net.conv(c1, *w["c5"], name="c5")  # SAME, 5x5: folds
    p = net.pad(c5, sym, name="p_sym")
    dw = net.depthwise(p, *w["dw"], stride=2, padding="VALID", name="dw")  # behind a symmetric PAD: folds
    q = net.pad(dw, asym, name="p_asym")
    c2 = net.conv(q, *w["c2"], padding="VALID", name="c2")  # asymmetric: the PAD stays
    r = net.pad(c2, sym, name="p_twice")
    c3 = net.conv(r, *w["c3"], padding="VALID", name="c3")
    net.add(c3, r, name="out")  # the PAD's output is read twice: it stays
    net.write(tmp_path / "pads.tflite")
    spec, state = read_tflite(tmp_path / "pads.tflite", "out")

    x = image(10, 12, n=2)
    a = ref_conv(ref_conv(x, *w["c1"], act="RELU6"), *w["c5"])
    a = ref_conv(np.pad(a, sym), *w["dw"], stride=2, padding="VALID", depthwise=True)
    a = np.pad(ref_conv(np.pad(a, asym), *w["c2"], padding="VALID"), sym)
    want = ref_conv(a, *w["c3"], padding="VALID") + a
    np.testing.assert_allclose(run(spec, state, x), want, atol=1e-4)

    model = TfliteGraph(spec)
    model.load_tflite_state(state)
    torch.onnx.export(model, (torch.zeros(2, 3, 10, 12),), str(tmp_path / "pads.onnx"), opset_version=17,
                      dynamo=False)
    kinds = [n.op_type for n in onnx.load(str(tmp_path / "pads.onnx")).graph.node]
    assert kinds.count("Conv") == 5 and kinds.count("Pad") == 2  # p_asym and p_twice
