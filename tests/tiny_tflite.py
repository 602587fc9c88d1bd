"""Writes tiny TensorFlow Lite image networks, for the tests of ``train/pretrained/tflite_graph.py`` (no TensorFlow).

:class:`TinyTflite` collects ops on NHWC float32 tensors, one method an op, each returning its output tensor's
name; :meth:`TinyTflite.write` saves them as a ``.tflite`` flatbuffer (schema version 3, identifier ``TFL3``,
buffer 0 empty). ``float16=True`` stores a conv's weights and bias as float16 constants, each widened by a
``DEQUANTIZE`` op, as MediaPipe's models do::

    net = TinyTflite((1, 8, 8, 3))
    y = net.conv(net.input, w, b, stride=2, act="RELU6", float16=True)   # w: (O, kh, kw, I)
    net.write(path)
"""

from __future__ import annotations

import math

import flatbuffers
import numpy as np
import tflite

_TYPES = {np.dtype(np.float32): tflite.TensorType.FLOAT32, np.dtype(np.float16): tflite.TensorType.FLOAT16,
          np.dtype(np.int32): tflite.TensorType.INT32}


def _out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    return math.ceil(size / stride) if padding == "SAME" else (size - kernel) // stride + 1


class TinyTflite:
    def __init__(self, shape: tuple[int, ...], name: str = "input") -> None:
        self.tensors: list[tuple[str, tuple[int, ...], int, int]] = []  # (name, shape, TensorType, buffer)
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty buffer every activation points at
        self.ops: list[tuple[str, list[int], list[int], tuple | None]] = []  # (op, inputs, outputs, options)
        self.input = self.tensor(name, shape)

    def index(self, name: str) -> int:
        return next(i for i, t in enumerate(self.tensors) if t[0] == name)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[self.index(name)][1]

    def tensor(self, name: str, shape, data: np.ndarray | None = None) -> str:
        """A float32 activation, or with ``data`` a constant of its dtype (float32, float16 or int32)."""
        if data is None:
            self.tensors.append((name, tuple(shape), tflite.TensorType.FLOAT32, 0))
        else:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            self.tensors.append((name, tuple(data.shape), _TYPES[data.dtype], len(self.buffers) - 1))
        return name

    def op(self, kind: str, inputs: list[str], shape, name: str | None = None, options: tuple | None = None) -> str:
        """Any builtin op ``kind`` (e.g. ``"LOGISTIC"``) writing a float32 tensor of ``shape``; ``options``:
        (options table name, {field: value}), e.g. ``("AddOptions", {"FusedActivationFunction": 1})``."""
        name = name or f"{kind.lower()}_{len(self.ops)}"
        self.tensor(name, shape)
        self.ops.append((kind, [self.index(i) for i in inputs], [self.index(name)], options))
        return name

    def _weight(self, name: str, data: np.ndarray, float16: bool) -> str:
        if not float16:
            return self.tensor(name, data.shape, data.astype(np.float32))
        self.tensor(f"{name}_fp16", data.shape, data.astype(np.float16))
        return self.op("DEQUANTIZE", [f"{name}_fp16"], data.shape, name)

    def conv(self, x: str, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, padding: str = "SAME",
             act: str = "NONE", name: str | None = None, float16: bool = False, depthwise: bool = False) -> str:
        """CONV_2D (``w``: (O, kh, kw, I)), or with ``depthwise`` DEPTHWISE_CONV_2D (``w``: (1, kh, kw, C))."""
        kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        name = name or f"{kind.lower()}_{len(self.ops)}"
        n, h, wd, _ = self.shape(x)
        cout = w.shape[3] if depthwise else w.shape[0]
        b = np.zeros(cout, np.float32) if b is None else b
        inputs = [x, self._weight(f"{name}/weights", w, float16), self._weight(f"{name}/bias", b, float16)]
        fields = {"Padding": getattr(tflite.Padding, padding), "StrideH": stride, "StrideW": stride,
                  "FusedActivationFunction": getattr(tflite.ActivationFunctionType, act)}
        if depthwise:
            fields["DepthMultiplier"] = 1
        shape = (n, _out_size(h, w.shape[1], stride, padding), _out_size(wd, w.shape[2], stride, padding), cout)
        return self.op(kind, inputs, shape, name, ("DepthwiseConv2DOptions" if depthwise else "Conv2DOptions", fields))

    def depthwise(self, x: str, w: np.ndarray, b: np.ndarray | None = None, **kw) -> str:
        return self.conv(x, w, b, depthwise=True, **kw)

    def pad(self, x: str, paddings, name: str | None = None) -> str:
        """PAD by the (4, 2) (before, after) per NHWC axis, an int32 constant."""
        name = name or f"pad_{len(self.ops)}"
        paddings = np.asarray(paddings, np.int32)
        shape = tuple(s + int(p.sum()) for s, p in zip(self.shape(x), paddings))
        return self.op("PAD", [x, self.tensor(f"{name}/paddings", (4, 2), paddings)], shape, name, ("PadOptions", {}))

    def add(self, a: str, b: str, act: str = "NONE", name: str | None = None) -> str:
        fields = {"FusedActivationFunction": getattr(tflite.ActivationFunctionType, act)}
        return self.op("ADD", [a, b], self.shape(a), name, ("AddOptions", fields))

    def max_pool(self, x: str, kernel: int, stride: int, padding: str = "VALID", name: str | None = None) -> str:
        n, h, w, c = self.shape(x)
        shape = (n, _out_size(h, kernel, stride, padding), _out_size(w, kernel, stride, padding), c)
        fields = {"Padding": getattr(tflite.Padding, padding), "StrideH": stride, "StrideW": stride,
                  "FilterHeight": kernel, "FilterWidth": kernel}
        return self.op("MAX_POOL_2D", [x], shape, name, ("Pool2DOptions", fields))

    def resize_bilinear(self, x: str, size: tuple[int, int], name: str | None = None) -> str:
        """RESIZE_BILINEAR to ``size`` (h, w), half-pixel centres (TF2's default), size an int32 constant."""
        name = name or f"resize_{len(self.ops)}"
        n, _, _, c = self.shape(x)
        size_t = self.tensor(f"{name}/size", (2,), np.asarray(size, np.int32))
        fields = {"AlignCorners": False, "HalfPixelCenters": True}
        return self.op("RESIZE_BILINEAR", [x, size_t], (n, *size, c), name, ("ResizeBilinearOptions", fields))

    def depth_to_space(self, x: str, block: int, name: str | None = None) -> str:
        n, h, w, c = self.shape(x)
        return self.op("DEPTH_TO_SPACE", [x], (n, h * block, w * block, c // block ** 2), name,
                       ("DepthToSpaceOptions", {"BlockSize": block}))

    def write(self, path, outputs: list[str] | None = None) -> None:
        """Save as a .tflite file; the subgraph's outputs are ``outputs`` (default: the last op's output)."""
        b = flatbuffers.Builder(1024)

        def vector(start, offsets) -> int:  # a vector of tables, built back to front
            start(b, len(offsets))
            for o in reversed(offsets):
                b.PrependUOffsetTRelative(o)
            return b.EndVector()

        def ints(values) -> int:
            return b.CreateNumpyVector(np.asarray(values, np.int32))

        buffers = []
        for data in self.buffers:
            vec = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buffers.append(tflite.BufferEnd(b))

        tensors = []
        for name, shape, dtype, buffer in self.tensors:
            name_s, shape_v = b.CreateString(name), ints(shape)
            tflite.TensorStart(b)
            tflite.TensorAddName(b, name_s)
            tflite.TensorAddShape(b, shape_v)
            tflite.TensorAddType(b, dtype)
            tflite.TensorAddBuffer(b, buffer)
            tensors.append(tflite.TensorEnd(b))

        kinds = sorted({op[0] for op in self.ops})
        codes = []
        for kind in kinds:
            code = getattr(tflite.BuiltinOperator, kind)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))  # 127: "see builtin_code"
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, 1)
            codes.append(tflite.OperatorCodeEnd(b))

        ops = []
        for kind, ins, outs, options in self.ops:
            table = None
            if options is not None:
                cls, fields = options
                getattr(tflite, f"{cls}Start")(b)
                for field, value in fields.items():
                    getattr(tflite, f"{cls}Add{field}")(b, value)
                table = getattr(tflite, f"{cls}End")(b)
            ins_v, outs_v = ints(ins), ints(outs)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, kinds.index(kind))
            tflite.OperatorAddInputs(b, ins_v)
            tflite.OperatorAddOutputs(b, outs_v)
            if table is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, options[0]))
                tflite.OperatorAddBuiltinOptions(b, table)
            ops.append(tflite.OperatorEnd(b))

        outputs = outputs or [self.tensors[self.ops[-1][2][0]][0]]
        tensors_v = vector(tflite.SubGraphStartTensorsVector, tensors)
        ops_v = vector(tflite.SubGraphStartOperatorsVector, ops)
        inputs_v, outputs_v = ints([self.index(self.input)]), ints([self.index(o) for o in outputs])
        name_s = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_v)
        tflite.SubGraphAddInputs(b, inputs_v)
        tflite.SubGraphAddOutputs(b, outputs_v)
        tflite.SubGraphAddOperators(b, ops_v)
        tflite.SubGraphAddName(b, name_s)
        subgraph = tflite.SubGraphEnd(b)

        codes_v = vector(tflite.ModelStartOperatorCodesVector, codes)
        subgraphs_v = vector(tflite.ModelStartSubgraphsVector, [subgraph])
        buffers_v = vector(tflite.ModelStartBuffersVector, buffers)
        description = b.CreateString("tiny_tflite test net")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_v)
        tflite.ModelAddSubgraphs(b, subgraphs_v)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers_v)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        with open(path, "wb") as f:
            f.write(b.Output())
