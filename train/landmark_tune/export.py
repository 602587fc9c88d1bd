"""The tuned head in a whole model: ``size``'s network with the init's detectors before it, saved and exported.

As ``train.posenet.landmarks`` builds MediaPipe's landmark network as it comes (the init's box and person detectors,
refused where they are not the size's), then the head's weights replaced by the tuned ones; the checkpoint stores
the recipe (``fit``: the config) and ``engines.export.export_onnx`` writes the model and its ``.pt`` twin.
"""

from __future__ import annotations

from pathlib import Path

import torch

from train.landmark_tune.config import LandmarkTuneConfig
from train.posenet.config import PoseNetConfig

KIND = "posenet"


def init_detectors(init: str) -> tuple[dict[str, torch.Tensor], PoseNetConfig]:
    """``(state, PoseNetConfig)`` of the model whose detectors the export takes: "default" (the embedded model), an
    exported ``.onnx`` (recovered) or a posenet checkpoint."""
    from train.checkpoint import load_checkpoint
    from train.posenet.from_onnx import recover
    from tvstream.api import DEFAULT_MODEL

    path = DEFAULT_MODEL if init == "default" else Path(init)
    if path.suffix.lower() == ".onnx":
        net, _ = recover(path)
        return net.state_dict(), net.cfg
    ckpt = load_checkpoint(path, expect={"kind": KIND}, keys=("kind",))
    return ckpt["model"], PoseNetConfig.from_dict(ckpt["config"]["model"])


def export_model(cfg: LandmarkTuneConfig, head_state: dict[str, torch.Tensor], ckpt_path: Path, out: Path) -> Path:
    """Write ``ckpt_path`` (the whole network, a posenet checkpoint) and export it to ``out`` (.onnx)."""
    from engines.export import export_onnx
    from train.checkpoint import save_checkpoint
    from train.posenet.landmarks import landmark_network

    if cfg.size is None:
        raise ValueError("this config has no size to export (size None): the tuned head is the result")
    state, init_cfg = init_detectors(cfg.init)
    net, mcfg = landmark_network(cfg.size, state, init_cfg)
    net.head.load_state_dict(head_state)  # strict: the readout stage's head is this size's
    save_checkpoint(ckpt_path, config={"kind": KIND, "model": mcfg.to_dict(),
                                       "fit": {"recipe": "train.landmark_tune", **cfg.to_dict()}},
                    step=cfg.steps, model=net)
    export_onnx(ckpt_path, out)
    return out
