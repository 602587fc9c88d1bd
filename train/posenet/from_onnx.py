"""A pose-network checkpoint recovered from its exported ONNX, for a warm start when the run is gone.

The exporter folds every batch norm into the convolution before it (weight scaled, a bias added). The recovered
:class:`PoseNet` takes each convolution's folded weight, and the batch norm after it becomes the identity plus
that bias (running mean 0, variance 1 - eps, scale 1). In eval mode the network is then the exported one
(checked against ONNX Runtime by the tests); train it on with ``FitConfig.freeze_bn`` so that batch statistics
do not replace the identity (the norms' scale and bias still learn). Weights stored as int8 come back as the
rounded values the graph computes with.

The checkpoint keeps what the model carries beside its weights: its run-time settings (``config["run"]``, e.g. a
landmark model's ``track_conf``), so that a model trained on from it runs as it did, and which weights the file
stores as int8 (``config["export"]["int8"]``, as ``engines.export.export_onnx`` reads it), so that exported again
it stores them as the file did.

Run: ``python -m train.posenet.from_onnx MODEL.onnx OUT.pt``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engines.weight_storage import INT8_SUFFIX
from train.checkpoint import save_checkpoint
from train.posenet.config import PoseNetConfig
from train.posenet.model import PoseNet

KIND = "posenet"


def module_path(node_name: str) -> str:
    """``/net/detector/trunk/s1/s1.0/conv1/Conv`` -> ``detector.trunk.s1.0.conv1`` (the exporter's scope names:
    a child of a Sequential repeats its parent's name with the index appended)."""
    parts = node_name.strip("/").split("/")[1:-1]  # drop the graph wrapper's "net" and the op
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path)


def _graphs(graph):
    """``graph`` and its subgraphs (an ``If``'s branches keep their own weights)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)


def _norm_after(net: nn.Module) -> dict[str, nn.BatchNorm2d]:
    """Each bias-free convolution's name -> the batch norm that follows it in registration order."""
    modules = list(net.named_modules())
    pairs = {}
    for (name, mod), (_, nxt) in zip(modules, modules[1:]):
        if isinstance(mod, nn.Conv2d) and mod.bias is None:
            if not isinstance(nxt, nn.BatchNorm2d):
                raise ValueError(f"{name}: a bias-free convolution not followed by a batch norm")
            pairs[name] = nxt
    return pairs


def recover(onnx_path: str | Path) -> tuple[PoseNet, dict]:
    """``(net, metadata config)`` from a pose-network ONNX; ``net`` in eval mode computes the exported graph."""
    import onnx

    return _recover(onnx.load(str(onnx_path)), onnx_path)


def _recover(model, onnx_path: str | Path) -> tuple[PoseNet, dict]:
    """:func:`recover` of the loaded ``model`` (an ``onnx.ModelProto``) read from ``onnx_path``."""
    from onnx import numpy_helper

    meta = json.loads({p.key: p.value for p in model.metadata_props}["tvstream"])
    if meta.get("config", {}).get("kind") != KIND:
        raise ValueError(f"{onnx_path}: not a pose-network export")
    net = PoseNet(PoseNetConfig.from_dict(meta["config"]["model"]))
    graphs = list(_graphs(model.graph))
    nodes = [node for g in graphs for node in g.node]
    weights = {i.name: numpy_helper.to_array(i) for g in graphs for i in g.initializer}
    # the exporter shares equal tensors (e.g. zero biases) through Identity nodes; stored weights are cast to
    # float32, int8 ones then scaled (engines.weight_storage)
    for node in nodes:
        if node.op_type in ("Identity", "Cast") and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]].astype(np.float32)
        elif node.op_type == "Mul" and all(i in weights for i in node.input):
            weights[node.output[0]] = weights[node.input[0]] * weights[node.input[1]]
    convs = dict(net.named_modules())
    norms = _norm_after(net)
    seen = set()
    with torch.no_grad():
        for node in nodes:  # a person detector's convolutions sit in an If (conditional_detector)
            if node.op_type != "Conv":
                continue
            name = module_path(node.name)
            conv = convs.get(name)
            if not isinstance(conv, nn.Conv2d):
                raise ValueError(f"{onnx_path}: graph convolution {node.name} has no module {name!r}")
            w = torch.from_numpy(np.array(weights[node.input[1]]))
            b = torch.from_numpy(np.array(weights[node.input[2]])) if len(node.input) > 2 else torch.zeros(len(w))
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.copy_(b)
            else:
                bn = norms[name]
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            seen.add(name)
        for key, tensor in (("net.mean", net.mean), ("net.std", net.std)):
            tensor.copy_(torch.from_numpy(np.array(weights[key])).reshape(tensor.shape))
    missing = [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d) and n not in seen]
    if missing:
        raise ValueError(f"{onnx_path}: no weights in the graph for {missing}")
    return net.eval(), meta["config"]


def int8_weights(model) -> list[str]:
    """The names of the weights ``model`` (an ``onnx.ModelProto``) stores as int8 (``engines.weight_storage``:
    ``NAME__i8`` beside its scale), sorted: what ``export_onnx``'s ``int8`` takes to store them so again."""
    return sorted(i.name.removesuffix(INT8_SUFFIX) for g in _graphs(model.graph) for i in g.initializer
                  if i.name.endswith(INT8_SUFFIX))


def write_checkpoint(onnx_path: str | Path, out: str | Path) -> Path:
    """Recover ``onnx_path`` into a checkpoint ``out`` that ``--init`` accepts (its step: the export's), with the
    model's run-time settings and int8 weights in its config where it has any."""
    import onnx

    model = onnx.load(str(onnx_path))
    net, config = _recover(model, onnx_path)
    int8 = int8_weights(model)
    carried = {**({"run": dict(config["run"])} if config.get("run") else {}),
               **({"export": {"int8": int8}} if int8 else {})}
    return save_checkpoint(out, config={"kind": KIND, "model": net.cfg.to_dict(),  # tuples, as runs store it
                                        "fit": {**config.get("fit", {}), "recovered_from": str(onnx_path)},
                                        **carried},
                           step=int(config.get("step") or 0), model=net)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    print(write_checkpoint(args.onnx, args.out))


if __name__ == "__main__":
    main()
