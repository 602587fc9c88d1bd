"""Give a trained pose network MediaPipe's person detector: a checkpoint whose boxnet and head are kept bit for bit.

MediaPipe's detector is not trained here (``train/pretrained/blazepose_detector.py``), so adding it to a finished
run needs no training step: the config gains ``detector="boxnet+blazepose"`` with the box scale and score
threshold of a preset (``--size``, default ``real-lite-mpdet``), and the detector's weights are read from
``pose_detection.tflite`` (the teacher venv's MediaPipe, or ``$TVSTREAM_BLAZEPOSE_DIR``).

Run: ``python -m train.posenet.person_detector runs/s20/F/last.pt runs/default_mpdet/last.pt``; then
``python -m train.default_model build runs/default_mpdet --bench data/bench``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from train.checkpoint import load_checkpoint
from train.posenet.config import SIZES, PoseNetConfig
from train.posenet.model import PoseNet
from train.posenet.reconfigure import save_derived
from tvstream.errors import CheckpointError

KIND = "posenet"


def add_person_detector(checkpoint: Path, out: Path, size: str = "real-lite-mpdet") -> PoseNetConfig:
    """Write ``out``: ``checkpoint``'s pose network with MediaPipe's person detector (``size``'s settings)."""
    state = load_checkpoint(checkpoint, expect={"kind": KIND}, keys=("kind",))
    cfg = PoseNetConfig.from_dict(state["config"]["model"])
    if cfg.detector != "boxnet":
        raise CheckpointError(f"{checkpoint}: already has the {cfg.detector} detector")
    preset = SIZES[size]
    if preset.detector == "boxnet":
        raise ValueError(f"size {size!r} has no person detector")
    cfg = replace(cfg, detector=preset.detector, detector_box_scale=preset.detector_box_scale,
                  detector_min_score=preset.detector_min_score, person_view=preset.person_view)
    net = PoseNet(cfg)
    net.person_detector.load_tflite()
    missing, unexpected = net.load_state_dict(state["model"], strict=False)
    if unexpected or not all(k.startswith("person_detector.") for k in missing):
        raise CheckpointError(f"{checkpoint}: its weights do not fit {cfg}")
    save_derived(out, state, net, model=size, person_detector=f"added to {checkpoint}")
    return cfg


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a pose network's last.pt")
    ap.add_argument("out", type=Path, help="the new checkpoint (e.g. RUN_DIR/last.pt)")
    ap.add_argument("--size", default="real-lite-mpdet", choices=[k for k, v in SIZES.items() if v.detector != "boxnet"])
    args = ap.parse_args(argv)
    print(add_person_detector(args.checkpoint, args.out, args.size))


if __name__ == "__main__":
    main()
