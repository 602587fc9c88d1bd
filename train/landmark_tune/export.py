"""The tuned head in a whole model: ``size``'s network with the init's detectors before it, saved and exported.

As ``train.posenet.landmarks`` builds MediaPipe's landmark network as it comes (the init's box and person detectors,
refused where they are not the size's), then the head's weights replaced by the tuned ones; the checkpoint stores
the recipe (``fit``: the config), the run-time setting the model carries (``run``) and which weights its file
stores as int8 (``export``); ``engines.export.export_onnx`` writes the model and its ``.pt`` twin.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from train.landmark_tune.config import LandmarkTuneConfig
from train.landmark_tune.quantize import choose_int8
from train.posenet.config import PoseNetConfig
from train.posenet.model import PoseNet

KIND = "posenet"
log = logging.getLogger(__name__)


def start_model(init: str) -> tuple[dict[str, torch.Tensor], PoseNetConfig]:
    """``(state, PoseNetConfig)`` of a model the run takes weights from (``init``'s detectors, ``head_init``'s
    head): "default" (the embedded model), an exported ``.onnx`` (recovered) or a posenet checkpoint."""
    from train.checkpoint import load_checkpoint
    from train.posenet.from_onnx import recover
    from tvstream.api import DEFAULT_MODEL

    path = DEFAULT_MODEL if init == "default" else Path(init)
    if path.suffix.lower() == ".onnx":
        net, _ = recover(path)
        return net.state_dict(), net.cfg
    ckpt = load_checkpoint(path, expect={"kind": KIND}, keys=("kind",))
    return ckpt["model"], PoseNetConfig.from_dict(ckpt["config"]["model"])


def export_model(cfg: LandmarkTuneConfig, head_state: dict[str, torch.Tensor], ckpt_path: Path, out: Path,
                 crops: tuple[dict, dict] | None = None) -> Path:
    """Write ``ckpt_path`` (the whole network, a posenet checkpoint carrying ``cfg.track_conf`` as its run-time
    setting) and export it to ``out`` (.onnx): the person detector int8, and where the file is still over the
    embedded model's limit, the head's least harmful weights too (``quantize.py``, measured on ``crops``: the
    rendered and real crops; their choice is stored in the checkpoint, so a re-export stores the same)."""
    from engines.export import export_onnx
    from engines.weight_storage import EMBEDDED_MAX_BYTES, HEAD, PERSON_DETECTOR
    from train.checkpoint import save_checkpoint
    from train.posenet.landmarks import landmark_network

    if cfg.size is None:
        raise ValueError("this config has no size to export (size None): the tuned head is the result")
    state, init_cfg = start_model(cfg.init)
    net, mcfg = landmark_network(cfg.size, state, init_cfg)
    if cfg.turn_p:  # it learnt turned crops: it runs them (train.posenet.reconfigure's way, the same modules)
        turned = PoseNet(replace(mcfg, crop_rotation=True)).eval()
        turned.load_state_dict(net.state_dict())
        net, mcfg = turned, turned.cfg
    net.head.load_state_dict(head_state)  # strict: the readout stage's head is this size's
    config = {"kind": KIND, "model": mcfg.to_dict(), "fit": {"recipe": "train.landmark_tune", **cfg.to_dict()},
              "run": {"track_conf": cfg.track_conf}, "export": {"int8": [PERSON_DETECTOR]}}
    need, harm = 0, None
    try:
        for _ in range(MAX_TRIES):
            save_checkpoint(ckpt_path, config=config, step=cfg.steps, model=net)
            export_onnx(ckpt_path, out)
            over = out.stat().st_size - EMBEDDED_MAX_BYTES
            if over <= 0:
                return out
            if crops is None:
                raise ValueError(f"{out} would be {over} bytes over the embedded model's limit: the export needs "
                                 "the crops to choose which weights to store as int8")
            need += over + MARGIN_BYTES
            harm = harm or _harm(net, cfg, crops)
            names = choose_int8(harm, need)
            config["export"] = {"int8": [PERSON_DETECTOR, *(f"{HEAD}{n}" for n in names)]}
            log.info("export: %d bytes over; %d of the head's weights int8 (%d values)", over, len(names),
                     sum(dict(net.head.named_parameters())[n].numel() for n in names))
        raise ValueError(f"{out} stays over the embedded model's limit with the whole head int8")
    except BaseException:  # nothing over the limit is left to pass for a finished export
        for path in (out, out.with_suffix(".pt"), ckpt_path):
            path.unlink(missing_ok=True)
        raise


MAX_TRIES = 4  # exports: float16 head, then int8 choices growing by what the last file was over
MARGIN_BYTES = 32_000  # int8's scales and graph nodes cost a little of what a choice saves


def _harm(net, cfg: LandmarkTuneConfig, crops: tuple[dict, dict]) -> list:
    """:func:`quantize.int8_harm` of ``net``'s head on ``cfg.int8_crops`` crops (half rendered, half real, evenly
    spaced through each set)."""
    from train.landmark_tune.quantize import int8_harm
    from train.landmark_tune.tune import normalise

    half = cfg.int8_crops // 2
    picked = [c["x"][np.linspace(0, len(c["x"]) - 1, half).astype(int)] for c in crops]
    x = torch.from_numpy(np.concatenate(picked)).permute(0, 3, 1, 2).float() / 255
    return int8_harm(net.head, normalise(x))
