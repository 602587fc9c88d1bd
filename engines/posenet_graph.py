"""The exportable per-frame graph of the localising pose network (``train/posenet``).

``frames (N, H, W, 3) uint8`` and ``track (N, 5)`` -> ``box (N, 4)`` px, ``pose3d (N, K, 3)`` mm pelvis-relative,
``pose2d (N, K, 2)`` px, ``conf (N, K)`` in [0, 1], ``detections (N, 3, H/32, W/32)`` the detector's raw map
(centre logits and log half-sizes: every person makes a peak, :mod:`tvstream.candidates` reads them), and with
MediaPipe's person detector ``person (N, 5)`` its best person ``[score, cx, cy, hx, hy]``, sure or not (score 0 on
tracked frames, where it does not run). ``track = [use, cx, cy, hx, hy]``: where ``use`` is 1 the
crop follows that box (normalised centre and half-size, from the previous frame's joints) instead of the
detector's; where it is 0 the detector places the crop, and a person detector that reads a square view
(``PoseNetConfig.person_view``) reads the square that box names (zeros: the whole frame's width;
:meth:`tvstream.frame_fit.FrameFit.view_row`). All zeros = detect every frame. A model whose crop turns with the
body (``PoseNetConfig.crop_rotation``) takes ``(N, 6)``: the 6th number is a tracked crop's angle (radians,
``tvstream.tracking.JointTracker``). torch is imported only inside.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from engines.metadata import DETECTIONS, FINDER_KIND, INPUT_NAME, OUTPUTS, PERSON, TRACK_INPUT, ModelMetadata

POSENET_OUTPUTS = (*OUTPUTS, "conf", DETECTIONS)


def weights_hash(module: Any) -> str:
    """sha256 (16 hex digits) over a module's state dict, names included."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def build_posenet_graph(state: dict[str, Any], card: dict[str, Any] | None = None):
    """``(graph, metadata)`` from a pose-network checkpoint state (``train/posenet/fit.py``)."""
    import torch
    from torch import nn

    from train.posenet.config import PoseNetConfig
    from train.posenet.model import PoseNet

    cfg = PoseNetConfig.from_dict(state["config"]["model"])
    net = PoseNet(cfg)
    net.load_state_dict(state["model"])
    h, w = cfg.frame_size
    person = net.person_detector is not None

    class PoseNetGraph(nn.Module):
        """uint8 frames + track boxes -> box px, pose3d mm, pose2d px, conf."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net.eval()
            self.register_buffer("half_size", torch.tensor([w / 2.0, h / 2.0]))  # (W/2, H/2)

        def forward(self, frames: torch.Tensor, track: torch.Tensor):
            x = frames.permute(0, 3, 1, 2).float()  # (N, 3, H, W) in [0, 255]: scaled after pooling and cropping
            centre, half, scale, xy, xyz, conf, detections, *found = self.net(x, track, 255.0, person)
            frame_xy = centre[:, None, :] + scale[:, None, :] * xy  # (N, K, 2) normalised frame coordinates
            pose2d = (frame_xy + 1) * self.half_size - 0.5  # pixel centres at integers
            box = torch.cat([(centre - half + 1) * self.half_size, (centre + half + 1) * self.half_size], dim=1)
            return (box, xyz * 1000.0, pose2d, conf, detections, *found)

    graph = PoseNetGraph().eval()
    outputs = (*POSENET_OUTPUTS, PERSON) if person else POSENET_OUTPUTS
    meta = ModelMetadata(input_size=(h, w), outputs=outputs, inputs=(INPUT_NAME, TRACK_INPUT),
                         model_hash=weights_hash(graph), trained=True,
                         config={"kind": "posenet", "model": cfg.to_dict(), "fit": state["config"].get("fit", {}),
                                 "step": state.get("step"), **({"card": card} if card else {}),
                                 **({"run": state["config"]["run"]} if state["config"].get("run") else {})})
    meta.check("checkpoint")
    return graph, meta


def build_finder_graph(state: dict[str, Any]):
    """``(graph, metadata)`` of a pose network's person finder: uint8 frames + track rows naming the square each is
    searched in -> MediaPipe's best person there, ``(N, 5)`` (the ``person`` output of the whole graph, without its
    box detector or head: ``PoseNet.find_person``). A square-view network's only."""
    from torch import nn

    from train.posenet.config import PoseNetConfig
    from train.posenet.model import PoseNet

    cfg = PoseNetConfig.from_dict(state["config"]["model"])
    if cfg.person_view != "square":
        raise ValueError(f"a person finder searches the squares its rows name: person_view must be square, got "
                         f"{cfg.person_view!r}")
    net = PoseNet(cfg)
    net.load_state_dict(state["model"])

    class FinderGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net.eval()

        def forward(self, frames, track):
            return self.net.find_person(frames.permute(0, 3, 1, 2).float(), 255.0, track[:, 1:5])

    graph = FinderGraph().eval()
    meta = ModelMetadata(input_size=cfg.frame_size, outputs=(PERSON,), inputs=(INPUT_NAME, TRACK_INPUT),
                         model_hash=weights_hash(graph), trained=True,
                         config={"kind": FINDER_KIND, "model": cfg.to_dict(),
                                 "fit": state["config"].get("fit", {}), "step": state.get("step")})
    return graph, meta


def export_posenet(graph, meta: ModelMetadata, tmp_path: str, opset: int) -> None:
    """Trace ``graph`` to ``tmp_path`` with a dynamic batch on every input and output."""
    import torch

    h, w = meta.input_size
    frames = torch.zeros(2, h, w, 3, dtype=torch.uint8)
    track = torch.zeros(2, meta.track_columns)
    names = list(meta.outputs)
    torch.onnx.export(graph, (frames, track), tmp_path, input_names=[INPUT_NAME, TRACK_INPUT], output_names=names,
                      dynamic_axes={INPUT_NAME: {0: "batch"}, TRACK_INPUT: {0: "batch"},
                                    **{n: {0: "batch"} for n in names}},
                      opset_version=opset, dynamo=False)


def no_track(n: int) -> np.ndarray:
    """The ``track`` input that lets the detector place every crop."""
    return np.zeros((n, 5), np.float32)


DETECTOR_HEAD_NODE = "/net/detector/head/Conv"  # the detector head, as the exporter names it


def expose_detections(onnx_path: str) -> bool:
    """Give a pose-network ONNX exported before :data:`DETECTIONS` existed that output, in place (atomic).

    The tensor is already computed inside the graph (the detector's head); this only lists it as an output and
    in the metadata, so the weights and every other output stay as they were. False when it is already there.
    """
    import os

    import onnx

    model = onnx.load(onnx_path)
    props = {p.key: p.value for p in model.metadata_props}
    meta = ModelMetadata.from_props(props, onnx_path)
    if DETECTIONS in meta.outputs:
        return False
    head = next((node for node in model.graph.node if node.name == DETECTOR_HEAD_NODE), None)
    if head is None:
        raise ValueError(f"{onnx_path}: no {DETECTOR_HEAD_NODE} in the graph (not a pose-network export)")
    if head.output[0] != DETECTIONS:
        model.graph.node.append(onnx.helper.make_node("Identity", [head.output[0]], [DETECTIONS],
                                                      name="detections_out"))
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        DETECTIONS, onnx.TensorProto.FLOAT, ["batch", 3, "map_h", "map_w"]))
    meta = ModelMetadata(**{**meta.__dict__, "outputs": (*meta.outputs, DETECTIONS)})
    del model.metadata_props[:]
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    tmp = f"{onnx_path}.tmp"
    onnx.save(model, tmp)
    os.replace(tmp, onnx_path)
    return True
