"""A pose network's ONNX written again with MediaPipe's person detector reading another view.

The embedded default model's person detector reads the 16:9 working frame (``PoseNetConfig.person_view``
"frame"). A portrait source (a phone held upright) fills only a third of that frame's width, so its people reach
the detector at 0.57x the size MediaPipe's own letterbox gives them. ``square`` reads the square around the
source's picture instead (the runtime names it in every detector frame's track row, ``FrameFit.view_row``):
on the held-out portrait reference clips through ``tvstream run`` it scored 0.714 / 0.568 where the default
scores 0.385 / 0.357 (session 23, ``benchmarks/results/sim2real.md``). It is not the default because on rendered
16:9 crossings (``benchmarks/keep_athlete.py``, a passer-by in front) MediaPipe's letterboxed view is sure of the
passer-by more often and the run lost the athlete on 4 of 16 clips (front PCK 0.600 -> 0.543).

The weights are the source's (recovered from its graph, ``train.posenet.from_onnx``; every output equal with
the same view), the card is kept and says which view it reads.

Run: ``python -m train.posenet.person_view tvstream/models/default.onnx portrait.onnx``, then
``tvstream run phone.mp4 --model portrait.onnx``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from train.posenet.config import PERSON_VIEWS

KIND = "posenet"


def _recovered(onnx_path: str | Path):
    """``(network, config)`` recovered from ``onnx_path`` (``train.posenet.from_onnx``); it must hold MediaPipe's
    person detector."""
    from train.posenet.from_onnx import recover

    net, config = recover(onnx_path)
    if net.person_detector is None:
        raise ValueError(f"{onnx_path}: this model has no MediaPipe person detector (its detector is "
                         f"{net.cfg.detector!r})")
    return net, config


def _export(net, cfg, config: dict, note: dict, export):
    """``export(checkpoint)`` of ``net``'s weights with config ``cfg`` (the source run's fit record plus ``note``),
    through a temporary checkpoint."""
    from train.checkpoint import save_checkpoint
    from train.posenet.model import PoseNet

    moved = PoseNet(cfg)
    moved.load_state_dict(net.state_dict())  # the same modules: strict
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint(Path(tmp) / "last.pt", config={
            "kind": KIND, "model": cfg.to_dict(), "fit": {**config.get("fit", {}), **note}},
            step=int(config.get("step") or 0), model=moved)
        return export(checkpoint)


def with_person_view(onnx_path: str | Path, out: str | Path, view: str = "square", frame_scale: int = 1,
                     mirror_read: bool | None = None):
    """Write ``out``: ``onnx_path``'s pose network whose person detector reads ``view``, on a working frame
    ``frame_scale`` times the size its detectors learnt on (``PoseNetConfig.frame_scale``), reading each crop
    also mirrored or not (``mirror_read``; None: as ``onnx_path`` does); returns its metadata."""
    from engines.export import export_onnx

    if view not in PERSON_VIEWS:
        raise ValueError(f"view must be one of {', '.join(PERSON_VIEWS)}, got {view!r}")
    if frame_scale < 1:
        raise ValueError(f"frame_scale must be >= 1, got {frame_scale}")
    net, config = _recovered(onnx_path)
    mirror_read = net.cfg.mirror_read if mirror_read is None else mirror_read
    card = config.get("card")
    if card is not None:
        card = {**card, "person_view": f"{view} (train.posenet.person_view, from {Path(onnx_path).name})",
                **({"frame_scale": frame_scale} if frame_scale > 1 else {}),
                **({"mirror_read": mirror_read} if mirror_read != net.cfg.mirror_read else {})}
    return _export(net, replace(net.cfg.scaled(frame_scale), person_view=view, mirror_read=mirror_read), config,
                   {"person_view_from": str(onnx_path)}, lambda checkpoint: export_onnx(checkpoint, out, card=card))


def write_finder(onnx_path: str | Path, out: str | Path, frame_scale: int = 1):
    """Write ``out``: the person finder of ``onnx_path``'s pose network (its MediaPipe person detector alone, reading
    the square each track row names, ``engines.export.export_finder``) on a working frame ``frame_scale`` times the
    size its detectors learnt on; returns its metadata."""
    from engines.export import export_finder

    net, config = _recovered(onnx_path)
    return _export(net, replace(net.cfg.scaled(frame_scale), person_view="square"), config,
                   {"finder_from": str(onnx_path)}, lambda checkpoint: export_finder(checkpoint, out))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path, help="a pose network's ONNX with MediaPipe's person detector")
    ap.add_argument("out", type=Path, help="the new ONNX (a .pt twin is written beside it)")
    ap.add_argument("--view", default="square", choices=PERSON_VIEWS, help="what the person detector reads")
    ap.add_argument("--frame-scale", type=int, default=1,
                    help="a working frame this many times the size the detectors learnt on (2: for large sources)")
    args = ap.parse_args(argv)
    meta = with_person_view(args.onnx, args.out, args.view, args.frame_scale)
    h, w = meta.input_size
    print(f"{args.out}: person detector reads the {args.view} view of a {w}x{h} frame ({meta.model_hash})")


if __name__ == "__main__":
    main()
