"""A TensorFlow Lite model's convolutional part, read into a torch module (NCHW, float32).

A ``.tflite`` file is a flatbuffer of tensors, buffers and operators (schema: TensorFlow's ``schema.fbs``, read
with the ``tflite`` package's generated classes). :func:`read_tflite` keeps the operators one named tensor
depends on and writes them as a *spec*: a JSON-able list of nodes (op, input and output tensor ids, sizes) that
:class:`TfliteGraph` rebuilds without the file, and a state dict of their weights (float16 weights behind
``DEQUANTIZE`` are widened to float32). Only the ops of convolutional image networks are read: ``CONV_2D``,
``DEPTHWISE_CONV_2D``, ``ADD``, ``PAD``, ``MAX_POOL_2D``, ``RESIZE_BILINEAR``, ``DEPTH_TO_SPACE``, and ``LOGISTIC``
and a final ``RESHAPE`` of a 1 x 1 map for a classifier's output; any other op on the path is an error naming it.
Weights stored sparse (a ``DENSIFY`` op in front of them, as in MediaPipe's pose detector) are made dense. Tensors
are NHWC in the file and NCHW here; a resize is read as a scale factor, so the module runs at input sizes other
than the file's (multiples of the network's total stride).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}  # tflite ActivationFunctionType
_SAME, _VALID = 0, 1  # tflite Padding
_DTYPES = {0: np.float32, 1: np.float16}  # tflite TensorType


def _op_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _options(op, cls):
    opts = cls()
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _activation(code: int, where: str) -> str | None:
    if code not in _ACTIVATIONS:
        raise ValueError(f"{where}: fused activation {code} is not supported")
    return _ACTIVATIONS[code]


class _TfliteFile:
    """A ``.tflite`` file's first subgraph: its operators, who makes each tensor, tensor ids by name."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tflite

        self.path = path
        with open(path, "rb") as fh:
            self.model = tflite.Model.GetRootAsModel(fh.read(), 0)
        self.graph = self.model.Subgraphs(0)
        self._names = _op_names()
        self._codes = [self.model.OperatorCodes(i) for i in range(self.model.OperatorCodesLength())]
        self.ops = [self.graph.Operators(i) for i in range(self.graph.OperatorsLength())]
        self.producer = {int(o): op for op in self.ops for o in op.OutputsAsNumpy()}
        self.by_name = {self.graph.Tensors(i).Name().decode(): i for i in range(self.graph.TensorsLength())}

    def op_name(self, op) -> str:
        code = self._codes[op.OpcodeIndex()]
        return self._names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")

    def name(self, tid: int) -> str:
        return self.graph.Tensors(tid).Name().decode()


def concatenated_maps(path: str | os.PathLike, output: str, count: int) -> list[str]:
    """The ``count`` tensors that ``path`` reshapes and concatenates into ``output`` (an SSD's per-level heads),
    in order; an error when ``output`` is not made that way."""
    f = _TfliteFile(path)
    concat = f.producer[f.by_name[output]]
    reshapes = [f.producer[int(i)] for i in concat.InputsAsNumpy()]
    if f.op_name(concat) != "CONCATENATION" or [f.op_name(r) for r in reshapes] != ["RESHAPE"] * count:
        raise ValueError(f"{path}: {output} is not a concatenation of {count} reshaped maps")
    return [f.name(int(r.InputsAsNumpy()[0])) for r in reshapes]


def densify(shape: tuple[int, ...], values: np.ndarray, dims: list[tuple[int, np.ndarray | None, np.ndarray | None]]
            ) -> np.ndarray:
    """A sparse tflite tensor in its stored (identity) traversal order -> the dense array of ``shape``.

    ``dims``: per dimension ``(dense_size, None, None)`` for a DENSE one or ``(0, segments, indices)`` for a
    SPARSE_CSR one (TensorFlow Lite's ``DimensionMetadata``); ``values`` are the stored non-zeros, in order."""
    segment = np.zeros(1, np.int64)  # per entry so far: its position among the stored entries of its dims
    offset = np.zeros(1, np.int64)  # and its flat offset in the dense array
    for d, (size, segments, indices) in enumerate(dims):
        stride = int(np.prod(shape[d + 1:]))
        if segments is None:  # every index of this dimension, for every entry so far
            segment = (segment[:, None] * size + np.arange(size)).ravel()
            offset = (offset[:, None] + np.arange(size) * stride).ravel()
        else:  # the stored indices of each entry's segment
            starts, counts = segments[segment].astype(np.int64), np.diff(segments)[segment].astype(np.int64)
            segment = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            offset = np.repeat(offset, counts) + indices[segment].astype(np.int64) * stride
    if len(offset) != len(values):
        raise ValueError(f"sparse tensor: {len(values)} values stored, {len(offset)} places")
    out = np.zeros(int(np.prod(shape)), values.dtype)
    out[offset] = values
    return out.reshape(shape)


def _sparse_dims(sparsity) -> list[tuple[int, np.ndarray | None, np.ndarray | None]]:
    import tflite

    if sparsity.BlockMapLength() or list(sparsity.TraversalOrderAsNumpy()) != list(range(sparsity.DimMetadataLength())):
        raise ValueError("only sparse tensors without blocks, stored in their own order, are supported")
    vectors = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
               tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
               tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}

    def vector(kind: int, table) -> np.ndarray:
        v = vectors[kind]()
        v.Init(table.Bytes, table.Pos)
        return v.ValuesAsNumpy()

    dims = []
    for d in range(sparsity.DimMetadataLength()):
        m = sparsity.DimMetadata(d)
        if m.Format() == tflite.DimensionType.DENSE:
            dims.append((m.DenseSize(), None, None))
        else:
            dims.append((0, vector(m.ArraySegmentsType(), m.ArraySegments()),
                         vector(m.ArrayIndicesType(), m.ArrayIndices())))
    return dims


def read_tflite(path: str | os.PathLike, output: str, start_after: Iterable[int] = (),
                also: Iterable[str] = ()) -> tuple[dict, dict[str, torch.Tensor]]:
    """``path``'s operators up to the tensor named ``output`` -> (spec, state dict) for :class:`TfliteGraph`.

    ``start_after``: tensor ids another graph computes (e.g. a trunk spec's node outputs): the graph starts from
    the one of them it reads (its ``input``) instead of the image, a branch on that graph (an error if it reads
    none or several). ``also``: more tensors (by name) the graph computes, e.g. a detector's other heads; their ids
    are the spec's ``also`` (pass them to :class:`TfliteGraph` as ``taps``)."""
    import tflite

    f = _TfliteFile(path)
    model, graph, ops, op_name, producer, by_name = f.model, f.graph, f.ops, f.op_name, f.producer, f.by_name
    densified = {int(op.OutputsAsNumpy()[0]): int(op.InputsAsNumpy()[0]) for op in ops if op_name(op) == "DENSIFY"}

    def constant(tid: int) -> np.ndarray | None:
        tensor = graph.Tensors(densified.get(tid, tid))
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or tensor.Type() not in _DTYPES and tensor.Type() != 2:
            return None
        dtype = _DTYPES.get(tensor.Type(), np.int32)
        values = np.frombuffer(data.tobytes(), dtype)
        shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
        values = values.reshape(shape) if tensor.Sparsity() is None else densify(shape, values,
                                                                                _sparse_dims(tensor.Sparsity()))
        return values.astype(np.float32 if dtype != np.int32 else np.int32)

    dequantized = {int(op.OutputsAsNumpy()[0]): int(op.InputsAsNumpy()[0]) for op in ops if op_name(op) == "DEQUANTIZE"}
    also = list(also)
    for name in (output, *also):
        if name not in by_name:
            raise KeyError(f"{path} has no tensor named {name!r}")
    given = {int(t) for t in start_after}
    image_input = int(graph.Inputs(0))
    reached: set[int] = set()

    def weight(tid: int) -> np.ndarray:
        value = constant(dequantized.get(tid, tid))
        if value is None:
            raise ValueError(f"{path}: tensor {graph.Tensors(tid).Name().decode()} is not a constant")
        return value

    order: list = []
    seen: set[int] = set()

    def visit(tid: int) -> None:  # depth-first: a node after every node it reads
        if tid in given or tid == image_input:
            reached.add(tid)
            return
        if tid in seen or tid not in producer:
            return
        seen.add(tid)
        op = producer[tid]
        for i in op.InputsAsNumpy():
            if i >= 0 and int(i) not in dequantized and constant(int(i)) is None:
                visit(int(i))
        order.append(op)

    for name in (output, *also):
        visit(by_name[name])
    if given:
        if len(reached) != 1 or image_input in reached:
            raise ValueError(f"{path}: {output} reads {len(reached - {image_input})} of the given tensors"
                             + (" and the image" if image_input in reached else "") + " (a branch reads one)")
        image_input = reached.pop()
    nodes, state = [], {}
    for op in order:
        kind, ins, out = op_name(op), [int(i) for i in op.InputsAsNumpy()], int(op.OutputsAsNumpy()[0])
        where = f"{path}: {kind} -> {graph.Tensors(out).Name().decode()}"
        shape_in = [int(s) for s in graph.Tensors(ins[0]).ShapeAsNumpy()]
        shape_out = [int(s) for s in graph.Tensors(out).ShapeAsNumpy()]
        node = {"op": kind, "in": [ins[0]], "out": out}
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            opts = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
            w = weight(ins[1])  # conv (O, kh, kw, I); depthwise (1, kh, kw, C * multiplier)
            w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)  # -> (O, I / groups, kh, kw)
            key = f"n{len(nodes)}"
            state[f"{key}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
            state[f"{key}.bias"] = torch.from_numpy(weight(ins[2]) if len(ins) > 2 and ins[2] >= 0
                                                    else np.zeros(w.shape[0], np.float32))
            node.update(op="conv", key=key, cin=shape_in[3], cout=int(w.shape[0]), kernel=[int(w.shape[2]),
                        int(w.shape[3])], stride=[opts.StrideH(), opts.StrideW()], groups=shape_in[3] if depthwise
                        else 1, same=opts.Padding() == _SAME, act=_activation(opts.FusedActivationFunction(), where))
            if opts.DilationHFactor() != 1 or opts.DilationWFactor() != 1:
                raise ValueError(f"{where}: dilation is not supported")
        elif kind == "ADD":
            node.update(op="add", act=_activation(_options(op, tflite.AddOptions).FusedActivationFunction(), where))
            node["in"] = ins[:2]
        elif kind == "PAD":
            (_, _), (top, bottom), (left, right), (c0, c1) = weight(ins[1]).tolist()
            if c0 or c1:
                raise ValueError(f"{where}: padding channels is not supported")
            node.update(op="pad", pad=[int(left), int(right), int(top), int(bottom)])
        elif kind == "MAX_POOL_2D":
            opts = _options(op, tflite.Pool2DOptions)
            node.update(op="maxpool", kernel=[opts.FilterHeight(), opts.FilterWidth()],
                        stride=[opts.StrideH(), opts.StrideW()], same=opts.Padding() == _SAME,
                        act=_activation(opts.FusedActivationFunction(), where))
        elif kind == "RESIZE_BILINEAR":
            opts = _options(op, tflite.ResizeBilinearOptions)
            if opts.AlignCorners() or not opts.HalfPixelCenters():
                raise ValueError(f"{where}: only half-pixel-centre resizing is supported")
            if shape_out[1] % shape_in[1] or shape_out[2] % shape_in[2]:
                raise ValueError(f"{where}: resize {shape_in} -> {shape_out} is not an integer scale")
            node.update(op="resize", scale=[shape_out[1] // shape_in[1], shape_out[2] // shape_in[2]])
        elif kind == "LOGISTIC":
            node.update(op="sigmoid")
        elif kind == "RESHAPE":  # only (N, 1, 1, C) -> (N, C), where NHWC and NCHW orders agree
            if shape_in[1:3] != [1, 1] or shape_out != [shape_in[0], shape_in[3]]:
                raise ValueError(f"{where}: only (N, 1, 1, C) -> (N, C) reshapes are supported")
            node.update(op="flatten")
        elif kind == "DEPTH_TO_SPACE":
            node.update(op="depth_to_space", block=_options(op, tflite.DepthToSpaceOptions).BlockSize())
        else:
            raise ValueError(f"{where}: operator {kind} is not supported")
        nodes.append(node)
    spec = {"input": image_input, "output": by_name[output], "channels": int(graph.Tensors(by_name[output])
            .ShapeAsNumpy()[-1]), "nodes": nodes}
    if also:
        spec["also"] = [by_name[name] for name in also]
    return spec, state


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis: (before, after)."""
    if stride == 1:  # independent of the size (and so of the input a traced export sees)
        return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2
    # ceil(size / stride) written with non-negative operands: a traced export writes ``//`` as ONNX's Div, which
    # truncates, so ``-(-3 // 2)`` became 1 there (the presence branch's odd 3x3 map came out 1x1, not 2x2)
    total = max(((size + stride - 1) // stride - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _padding_in_conv(nodes: list[dict]) -> dict[int, tuple[int, int]]:
    """Zero padding the convolutions can do themselves: node index -> ``(pad_h, pad_w)`` for a conv of SAME padding
    at stride 1 with an odd kernel (symmetric whatever the input size), and for a VALID conv whose input is a
    symmetric PAD read by nothing else (that PAD's index maps to ``(0, 0)``: it passes its input through).

    The same numbers either way; an exported graph then has no Pad node in front of those convolutions, which
    ONNX Runtime did not fuse and which cost about a fifth of the pose head's time on the CPU (Pad and the layout
    reorders around it)."""
    readers: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n["in"]:
            readers.setdefault(t, []).append(i)
    made = {n["out"]: i for i, n in enumerate(nodes)}
    folded: dict[int, tuple[int, int]] = {}
    for i, n in enumerate(nodes):
        if n["op"] != "conv":
            continue
        kh, kw = n["kernel"]
        if n["same"] and n["stride"] == [1, 1] and kh % 2 and kw % 2:
            folded[i] = ((kh - 1) // 2, (kw - 1) // 2)
            continue
        j = made.get(n["in"][0])
        if n["same"] or j is None or nodes[j]["op"] != "pad" or readers.get(nodes[j]["out"]) != [i]:
            continue
        left, right, top, bottom = nodes[j]["pad"]
        if left == right and top == bottom:
            folded[i], folded[j] = (top, left), (0, 0)
    return folded


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """TensorFlow's ``depth_to_space`` (ONNX's DCR order; torch's ``pixel_shuffle`` is CRD) on NCHW tensors:
    output pixel ``(h * b + i, w * b + j)``, channel ``c`` = input channel ``(i * b + j) * C_out + c`` at ``(h, w)``."""
    n, c, h, w = x.shape
    x = x.reshape(n, block, block, c // (block * block), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c // (block * block), h * block, w * block)


def _activate(x: torch.Tensor, act: str | None) -> torch.Tensor:
    if act == "relu6":
        return F.relu6(x)
    return F.relu(x) if act == "relu" else x


class TfliteGraph(nn.Module):
    """The network a :func:`read_tflite` spec describes: (N, C, H, W) images -> (N, channels, h, w) features.

    Convolutions are ``nn.Conv2d`` children named after their node (``n12``), so a state dict from
    :func:`read_tflite` loads into it, training updates them like any other layer, and the exporter's scope names
    (``.../graph/n12/Conv``) lead back to them (``train.posenet.from_onnx``).
    """

    def __init__(self, spec: dict, taps: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.spec = spec
        self.taps = tuple(int(t) for t in taps)  # inner tensors forward also returns (where a branch starts)
        self.channels = int(spec["channels"])
        self._in_conv = _padding_in_conv(spec["nodes"])
        for i, n in enumerate(spec["nodes"]):
            if n["op"] == "conv":
                self.add_module(n["key"], nn.Conv2d(n["cin"], n["cout"], tuple(n["kernel"]), tuple(n["stride"]),
                                                    padding=self._in_conv.get(i, 0), groups=n["groups"]))
        last_use: dict[int, int] = {}
        for i, n in enumerate(spec["nodes"]):
            for t in n["in"]:
                last_use[t] = i
        missing = set(self.taps) - {n["out"] for n in spec["nodes"]} - {spec["input"]}
        if missing:
            raise ValueError(f"taps {sorted(missing)} are not tensors of this graph")
        for t in self.taps:
            last_use[t] = len(spec["nodes"])  # kept to the end
        self._free = [sorted({t for t in n["in"] if last_use[t] == i}) for i, n in enumerate(spec["nodes"])]

    def load_tflite_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :func:`read_tflite`'s weights (its keys are the nodes' keys)."""
        self.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The output, or ``(output, *taps)`` when the graph has taps."""
        tensors = {self.spec["input"]: x}
        for i, (node, free) in enumerate(zip(self.spec["nodes"], self._free)):
            a = tensors[node["in"][0]]
            op = node["op"]
            if op == "conv":
                if node["same"] and i not in self._in_conv:
                    (t, b), (l, r) = (_same_pad(a.shape[2 + k], node["kernel"][k], node["stride"][k]) for k in (0, 1))
                    if node["kernel"] != [1, 1] or node["stride"] != [1, 1]:
                        a = F.pad(a, (l, r, t, b))
                y = _activate(getattr(self, node["key"])(a), node["act"])
            elif op == "add":
                y = _activate(a + tensors[node["in"][1]], node["act"])
            elif op == "pad":
                y = a if i in self._in_conv else F.pad(a, tuple(node["pad"]))
            elif op == "maxpool":
                if node["same"]:
                    (t, b), (l, r) = (_same_pad(a.shape[2 + k], node["kernel"][k], node["stride"][k]) for k in (0, 1))
                    a = F.pad(a, (l, r, t, b), value=float("-inf"))
                y = _activate(F.max_pool2d(a, tuple(node["kernel"]), tuple(node["stride"])), node["act"])
            elif op == "sigmoid":
                y = torch.sigmoid(a)
            elif op == "flatten":
                y = a.flatten(1)
            elif op == "depth_to_space":
                y = depth_to_space(a, node["block"])
            else:  # resize
                y = F.interpolate(a, scale_factor=tuple(float(s) for s in node["scale"]), mode="bilinear",
                                  align_corners=False)
            for t in free:
                del tensors[t]
            tensors[node["out"]] = y
        out = tensors[self.spec["output"]]
        return (out, *(tensors[t] for t in self.taps)) if self.taps else out


def early_convs(spec: dict, stride: int = 16) -> list[str]:
    """The keys of the convolutions that come, in the graph's order, before the first one reading a map at
    1/``stride`` of the input's size or coarser: a network's early, fine-resolution layers (in MediaPipe's Full
    landmark network, at 16: ``n1``-``n22``, the crop read at 1/1 to 1/8 of its size)."""
    scale = {spec["input"]: 1.0}  # each tensor's size as a share of the input's
    early = []
    for n in spec["nodes"]:
        share = scale[n["in"][0]]
        if n["op"] == "conv":
            if share <= 1 / stride:
                break
            early.append(n["key"])
        step = {"conv": n.get("stride", [1])[0], "maxpool": n.get("stride", [1])[0],
                "depth_to_space": 1 / n.get("block", 1), "resize": 1 / float(n.get("scale", [1])[0])}
        scale[n["out"]] = share / step.get(n["op"], 1)
    return early


def node_kinds(spec: dict) -> Iterable[str]:
    return (n["op"] for n in spec["nodes"])
