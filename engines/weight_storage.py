"""How an exported graph stores its large weights: float16, or int8 with a scale per output channel; both are read
back as float32 at the top of the graph, so every consumer computes in float32 as before.

- :func:`store_half`: every float32 initializer of at least ``min_elements`` values becomes a float16 initializer
  and a ``Cast`` to float32 under the old name. Half the file; lossless for weights that were float16 to begin
  with, as MediaPipe's networks ship.
- :func:`store_int8`: the initializers named under some prefixes become int8 (symmetric, one scale per output
  channel: the largest magnitude of the channel is 127) and ``Cast`` then ``Mul`` by the scale. A quarter of the
  float32 file: for a model that would not fit the embedded model's 10 MB in float16 (MediaPipe's Full landmark
  network and its person detector together: the detector first, then the head, ``INT8_ORDER``).

ONNX Runtime folds the casts and products into float32 constants when it loads the graph (constant folding), so
inference runs as on a float32 graph whose weights were rounded that way. ``train.posenet.from_onnx`` reads the
weights back through either chain.
"""

from __future__ import annotations

import numpy as np

MIN_ELEMENTS = 1024  # smaller tensors (biases, norm statistics, grids) stay float32: no size to win
INT8_MAX = 127
EMBEDDED_MAX_BYTES = 10_000_000  # the embedded default model's file (tvstream/models/default.onnx) at most: 10 MB
INT8_SUFFIX = "__i8"  # a weight stored as int8: NAME__i8 (its values) beside NAME__scale (store_int8)
PERSON_DETECTOR = "net.person_detector."  # the exported graph's names of MediaPipe's person detector weights
HEAD = "net.head."  # ... of the pose head's
# what a pose network too large for the embedded model's limit in float16 stores as int8, in this order until it fits:
# the person detector (runs only on frames without a crop to follow), then the pose head
INT8_ORDER = (PERSON_DETECTOR, HEAD)


def _rewrite(model, make) -> int:
    """Replace each float32 initializer for which ``make(init)`` returns ``(initializers, nodes)`` by them (the
    nodes computing the old name, put at the top of the graph); the number replaced."""
    import onnx

    graph = model.graph
    made, kept, count = [], [], 0
    for init in graph.initializer:
        out = make(init) if init.data_type == onnx.TensorProto.FLOAT else None
        if out is None:
            kept.append(init)
            continue
        kept.extend(out[0])
        made.extend(out[1])
        count += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = made + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def store_half(model, min_elements: int = MIN_ELEMENTS) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; the number of initializers stored as float16."""
    import onnx
    from onnx import numpy_helper

    def half(init):
        if int(np.prod(init.dims)) < min_elements or init.name.endswith("__scale"):  # int8's scales stay float32
            return None
        stored = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__f16")
        return [stored], [onnx.helper.make_node("Cast", [stored.name], [init.name], to=onnx.TensorProto.FLOAT,
                                                name=f"{init.name}__to_f32")]

    return _rewrite(model, half)


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (C, ...) float -> ``(q int8, scale (C, 1, ...) float32)`` with ``q * scale`` ~ ``w``: symmetric, per
    output channel (axis 0); an all-zero channel gets scale 1."""
    w = np.asarray(w, np.float32)
    peak = np.abs(w.reshape(len(w), -1)).max(1)
    scale = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(w / scale), -INT8_MAX, INT8_MAX).astype(np.int8), scale


def store_int8(model, prefixes: tuple[str, ...], min_elements: int = MIN_ELEMENTS) -> int:
    """Rewrite ``model`` in place: float32 initializers named under one of ``prefixes`` with at least
    ``min_elements`` values and two or more axes (convolution and matrix weights) become int8 with a float32
    scale per output channel; the number rewritten. Run before :func:`store_half` (which leaves them alone)."""
    import onnx
    from onnx import numpy_helper

    def int8(init):
        if (not init.name.startswith(prefixes) or len(init.dims) < 2
                or int(np.prod(init.dims)) < min_elements):
            return None
        q, scale = quantize_int8(numpy_helper.to_array(init))
        stored = [numpy_helper.from_array(q, f"{init.name}{INT8_SUFFIX}"),
                  numpy_helper.from_array(scale, f"{init.name}__scale")]
        widened = f"{init.name}__i8_f32"
        return stored, [onnx.helper.make_node("Cast", [stored[0].name], [widened], to=onnx.TensorProto.FLOAT,
                                              name=f"{init.name}__i8_to_f32"),
                        onnx.helper.make_node("Mul", [widened, stored[1].name], [init.name],
                                              name=f"{init.name}__i8_scaled")]

    return _rewrite(model, int8)
