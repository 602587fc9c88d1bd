"""A trained head's trunk moved part of the way back to the pretrained network it started from.

Weight-space ensembling (WiSE-FT, Wortsman et al., CVPR 2022): for a network fine-tuned from a pretrained one,
the weights ``alpha * trained + (1 - alpha) * pretrained`` often keep most of what fine-tuning taught on its own
data and much of what the pretrained network knew of other data. Here the pose head's MediaPipe trunk and
heatmap layer learnt rendered people and cut-outs from MediaPipe Pose's weights (trained by Google on real
people), and every session measured that training moving it toward the rendered bench and away from real people
(``benchmarks/results/sim2real.md``, sessions 19 and 24). ``alpha`` walks that line with no training.

What moves: ``head.trunk.graph`` (the landmark network up to its heatmaps) and ``head.heat`` (its heatmap layer,
at ``alpha`` 0 MediaPipe's own heatmaps of the H36M joints, ``train.pretrained.mediapipe.load_weights``). What is
kept as trained: the location-map and confidence layers (they have no pretrained counterpart), the presence
branch (trained for the confidence, session 20) and both detectors.

Run: ``python -m train.posenet.interpolate RUN/last.pt OUT/last.pt --alpha 0.5`` (the MediaPipe ``.tflite`` from
the teacher's venv or ``$TVSTREAM_BLAZEPOSE_DIR``; ``--tflite`` names it).

``--toward OTHER.pt`` walks instead toward another tune of the same network from the same start (a soup of two
recipes): the trunk, its landmark or heatmap layer and the 3D layer move (:data:`SOUPED`); the presence branch
(the pose flag scaling every confidence) and the detectors stay the checkpoint's own: averaged, a pose flag read
0 on every crop (session 61, ``benchmarks/results/s61_rule39.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from train.checkpoint import load_checkpoint
from train.posenet.config import PoseNetConfig
from train.posenet.model import PoseNet, PretrainedPoseHead
from train.posenet.reconfigure import KIND, save_derived
from tvstream.errors import CheckpointError

MOVED = ("head.trunk.graph.", "head.heat.")  # the parameters that go back toward the pretrained network
SOUPED = ("head.trunk.graph.", "head.trunk.image.", "head.heat.", "head.joints3d.")  # ... toward a sibling tune


def interpolate_state(trained: dict[str, torch.Tensor], pretrained: dict[str, torch.Tensor], alpha: float,
                      moved: tuple[str, ...] = MOVED) -> dict[str, torch.Tensor]:
    """``trained`` with every floating tensor under a prefix of ``moved`` replaced by ``alpha * trained + (1 -
    alpha) * pretrained`` (``pretrained`` must hold each of them, same shape); every other tensor kept as is."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out, count = {}, 0
    for name, value in trained.items():
        if name.startswith(moved) and value.is_floating_point():
            if name not in pretrained or pretrained[name].shape != value.shape:
                raise ValueError(f"the pretrained network has no {name} of shape {tuple(value.shape)}")
            value = torch.lerp(pretrained[name].to(value.dtype), value, alpha)
            count += 1
        out[name] = value
    if not count:
        raise ValueError(f"nothing under {moved} to interpolate: not a head on a pretrained trunk")
    return out


def pretrained_head_state(cfg: PoseNetConfig, tflite: str | None = None) -> dict[str, torch.Tensor]:
    """The state of ``cfg``'s pose head as it starts training (MediaPipe's weights), named as in :class:`PoseNet`."""
    if cfg.head_trunk == "resnet":
        raise ValueError("this head's trunk was not pretrained (head_trunk 'resnet')")
    head = PretrainedPoseHead(cfg.head_trunk, cfg.up_channels, cfg.joints, cfg.presence)
    head.load_pretrained(tflite)
    return {f"head.{k}": v for k, v in head.state_dict().items()}


def toward_pretrained(checkpoint: Path, out: Path, alpha: float, tflite: str | None = None) -> None:
    """Write ``out``: ``checkpoint``'s pose network with its head's trunk at ``alpha`` of the way from
    MediaPipe's weights to its trained ones (:func:`interpolate_state`)."""
    state = load_checkpoint(checkpoint, expect={"kind": KIND}, keys=("kind",))
    cfg = PoseNetConfig.from_dict(state["config"]["model"])
    net = PoseNet(cfg)
    net.load_state_dict(interpolate_state(state["model"], pretrained_head_state(cfg, tflite), alpha))
    save_derived(out, state, net, interpolated={"from": str(checkpoint), "alpha": alpha,
                                                "toward": f"{cfg.head_trunk} (MediaPipe Pose)"})


def toward_sibling(checkpoint: Path, other: Path, out: Path, alpha: float) -> None:
    """Write ``out``: ``checkpoint``'s pose network with the :data:`SOUPED` layers of its head at ``alpha`` of the way
    from ``other``'s (a tune of the same network, config for config) to its own; everything else its own."""
    state = load_checkpoint(checkpoint, expect={"kind": KIND}, keys=("kind",))
    sibling = load_checkpoint(other, expect={"kind": KIND}, keys=("kind",))
    if sibling["config"]["model"] != state["config"]["model"]:
        raise ValueError(f"{other} is another network than {checkpoint} (their model configs differ)")
    net = PoseNet(PoseNetConfig.from_dict(state["config"]["model"]))
    net.load_state_dict(interpolate_state(state["model"], sibling["model"], alpha, SOUPED))
    fit = sibling["config"].get("fit", {})
    toward = {"renders": [Path(r).name for r in fit.get("renders", ())], "occlude_p": fit.get("occlude_p"),
              "soup": len(fit.get("soup") or ()), "steps": fit.get("steps"), "lr": fit.get("lr")}
    save_derived(out, state, net, interpolated={"from": str(checkpoint), "alpha": alpha, "toward": "a sibling tune",
                                                "sibling": toward})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a pose network's last.pt whose head is on MediaPipe's trunk")
    ap.add_argument("out", type=Path, help="the new checkpoint (e.g. RUN_DIR/last.pt)")
    ap.add_argument("--alpha", type=float, required=True,
                    help="1: the trained weights; 0: MediaPipe's trunk and heatmaps (with --toward: the other "
                         "tune's layers); between: the line between")
    ap.add_argument("--tflite", default=None, help="MediaPipe's landmark .tflite (default: found as training does)")
    ap.add_argument("--toward", type=Path, default=None,
                    help="another tune of the same network from the same start: walk toward its head instead (the "
                         "pose flag and detectors stay the checkpoint's)")
    args = ap.parse_args(argv)
    try:
        if args.toward is not None:
            toward_sibling(args.checkpoint, args.toward, args.out, args.alpha)
        else:
            toward_pretrained(args.checkpoint, args.out, args.alpha, args.tflite)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        ap.exit(2, f"error: {exc}\n")
    print(args.out)


if __name__ == "__main__":
    main()
