"""Store an ONNX graph's large weights as float16, read back as float32: half the file, the same float32 compute.

Every float32 initializer of at least ``min_elements`` values becomes a float16 initializer and a ``Cast`` to
float32 at the top of the graph, under the old name, so no consumer changes. ONNX Runtime folds the casts into
float32 constants when it loads the graph, so inference runs exactly as on a float32 graph whose weights were
rounded to float16 (lossless for weights that were float16 to begin with, as MediaPipe's networks ship).
"""

from __future__ import annotations

import numpy as np

MIN_ELEMENTS = 1024  # smaller tensors (biases, norm statistics, grids) stay float32: no size to win


def store_half(model, min_elements: int = MIN_ELEMENTS) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; the number of initializers stored as float16."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    casts, kept, count = [], [], 0
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__f16")
        kept.append(half)
        casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                           name=f"{init.name}__to_f32"))
        count += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return count
