"""A pose network that reads people as MediaPipe does: a model's detectors before MediaPipe's landmark network.

``PoseNetConfig.head_read = "landmarks"`` (sizes ``real-full-landmarks``, ``real-lite-landmarks``): the head is
MediaPipe Pose's landmark network as it comes (``train.pretrained.mediapipe.BlazePoseLandmarks``: its landmark
regression, visibility, pose flag and world landmarks, from the teacher venv's ``.tflite``), each H36M joint its
``tvstream.teacher.mapping`` recipe of the landmarks. Nothing is trained: the detectors are taken from ``--init``
(a posenet checkpoint, or an exported model recovered by ``train.posenet.from_onnx``), the head from MediaPipe's
file, and the network is exported.

Measured in session 45 (``benchmarks/results/s45_rule.md``): on real people's boxes it reads them far better than
the default's head (held-out reference clips on MediaPipe Heavy's box 0.794 against 0.685; real development set
0.790 against 0.593), on rendered people worse (design sets 0.631 against 0.813), and through ``tvstream run`` it
is not better on real footage yet (reference clips 0.520 against 0.546: the run's finding and following of people
loses what the head gains). It is not the default.

Run: ``python -m train.posenet.landmarks --out real.onnx [--size real-full-landmarks] [--init MODEL]``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from train.posenet.config import SIZES, PoseNetConfig

KIND = "posenet"
DETECTOR_PARTS = ("detector", "person_detector")  # the modules taken from the init


def landmark_network(size: str, init_state: dict, init_cfg: PoseNetConfig):
    """The ``size`` network (a ``head_read="landmarks"`` size, with ``init_cfg``'s person view) holding the
    detectors of ``init_state`` and MediaPipe's landmark network; refused where the detectors differ."""
    from train.posenet.model import PoseNet

    cfg = SIZES[size]
    if cfg.head_read != "landmarks":
        raise ValueError(f"{size} does not read MediaPipe's landmarks (sizes that do: "
                         f"{', '.join(k for k, v in SIZES.items() if v.head_read == 'landmarks')})")
    cfg = replace(cfg, person_view=init_cfg.person_view)
    if (init_cfg.detector, init_cfg.detector_width, init_cfg.frame_size) != (cfg.detector, cfg.detector_width,
                                                                            cfg.frame_size):
        raise ValueError(f"the init's detectors ({init_cfg.detector}, width {init_cfg.detector_width}, frame "
                         f"{init_cfg.frame_size}) are not {size}'s")
    net = PoseNet(cfg).eval()
    net.head.load_pretrained()
    for name in DETECTOR_PARTS:
        part = getattr(net, name)
        if part is not None:
            part.load_state_dict({k.removeprefix(f"{name}."): v for k, v in init_state.items()
                                  if k.startswith(f"{name}.")})
    return net, cfg


def build(out: Path, size: str = "real-full-landmarks", init: Path | None = None) -> Path:
    """Write ``out`` (.onnx): ``init``'s detectors (default: the embedded model's) before MediaPipe's landmark
    network; its checkpoint beside it (``out`` with ``.ckpt.pt``; ``.pt`` is the export's torch twin)."""
    from engines.export import export_onnx
    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.posenet.from_onnx import recover
    from tvstream.api import DEFAULT_MODEL

    init = Path(init) if init is not None else DEFAULT_MODEL
    if init.suffix.lower() == ".onnx":
        recovered, _ = recover(init)
        state, init_cfg = recovered.state_dict(), recovered.cfg
    else:
        ckpt = load_checkpoint(init, expect={"kind": KIND}, keys=("kind",))
        state, init_cfg = ckpt["model"], PoseNetConfig.from_dict(ckpt["config"]["model"])
    net, cfg = landmark_network(size, state, init_cfg)
    ckpt = save_checkpoint(Path(out).with_suffix(".ckpt.pt"), config={
        "kind": KIND, "model": cfg.to_dict(),
        "fit": {"init": str(init), "note": "the init's detectors; MediaPipe's landmark network as it comes"}},
        step=0, model=net)
    export_onnx(ckpt, out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    sizes = [k for k, v in SIZES.items() if v.head_read == "landmarks"]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="the model to write (.onnx)")
    ap.add_argument("--size", choices=sizes, default="real-full-landmarks")
    ap.add_argument("--init", type=Path, default=None,
                    help="whose detectors: a posenet .pt or an exported .onnx (default: the embedded model)")
    args = ap.parse_args(argv)
    print(build(args.out, args.size, args.init))


if __name__ == "__main__":
    main()
