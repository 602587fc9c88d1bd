"""A screen of landmark heads on labeled boxes: which weights of a tune cost real people, in a minute or two a
variant, before a 15-minute export and a run through every clip.

A posenet checkpoint of a landmark-tune model (``--model``, e.g. a recipe's ``WORK/export/model.pt``) is read
with its trunk's weights replaced by a variant's; every crop is its labeled box (``labeled_track``), so what is
scored is the head's 2D alone (PCK@0.2 of the 12 core joints), on: the real development set
(``benchmarks/.clips/real_dev``, ``benchmarks.real_dev`` first), the sample clip, and the first clips of the
design shards (``--design``; the tune's ``skip_clips`` leaves them out of its rows), dives apart. The pose flag,
the 3D readout and the run's crop are the model's own: a screen, not a verdict (session 52's A5 read the dev
set's boxes 0.650 -> 0.715 here, and through the run moved it 0.627 -> 0.612).

Variants (``NAME=SPEC``): ``model`` (the checkpoint as it is), ``tune`` (``--tune``'s weights), ``blend:B``
(MediaPipe's network + B x (the tune - MediaPipe's)), ``early:B`` (that blend in the early layers alone,
``tflite_graph.early_convs``; the tune's elsewhere), ``soup:A`` (the model's + A x (the tune - the model's)).
``--tune`` defaults to the model's own head. Needs MediaPipe's weights (the teacher venv) for ``blend`` and
``early``.

Run: ``python -m benchmarks.head_screen --model runs/fe/export/model.pt --design data/design --design
data/design3 default=model mine=tune half=early:0.5 [--name s52_screen]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

GROUPS = ("dev", "sample", "renders", "dives")


def variant_state(spec: str, tune: dict[str, torch.Tensor], model: dict[str, torch.Tensor],
                  start: dict[str, torch.Tensor] | None = None, early: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The trunk state ``spec`` names (the module docstring's variants), from ``tune``, the ``model``'s own and
    MediaPipe's ``start`` (for ``blend`` and ``early``); ``early``: the early layers' key prefixes."""
    from train.landmark_tune.tune import blended

    kind, _, value = spec.partition(":")
    if kind in ("model", "tune") and not value:
        return model if kind == "model" else tune
    if kind not in ("blend", "early", "soup") or not value:
        raise ValueError(f"{spec!r}: a variant is model, tune, blend:B, early:B or soup:A")
    b = float(value)
    if kind == "soup":
        return blended(model, tune, b)
    if start is None:
        raise ValueError(f"{spec!r} needs MediaPipe's network (the teacher venv)")
    return blended(start, tune, b) if kind == "blend" else blended(start, tune, 1.0, {p: b for p in early})


def labeled_crops(frame_size: tuple[int, int], design: list[Path]) -> list[tuple]:
    """``(group, frame, track row, fit, joints2d (1, K, 2), visible (1, K))`` for every crop the screen reads."""
    from train.posenet.evaluate import labeled_track
    from tvstream.labels import load_any_labels
    from tvstream.manifest import discover
    from tvstream.sources import VideoSource

    items = []
    dev = Path("benchmarks/.clips/real_dev")
    for clip in sorted((dev / "clips").glob("*.mp4")):
        labels = dev / "labels-mediapipe-heavy" / f"{clip.stem}.json"
        if labels.is_file():  # the long videos every 4th labeled frame, the stills each
            items.append(("dev", clip, labels, 4 if clip.stem.startswith(("schoolyard", "bikes")) else 1))
    items.append(("sample", Path("examples/sample_ski.mp4"), Path("examples/sample_ski.npz"), 5))
    for root in design:
        for shard in sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()):
            for entry in discover(shard)[:3]:
                items.append(("dives" if "dive" in shard.name else "renders", Path(entry.video), Path(entry.labels), 10))
    crops = []
    for group, clip, labels_path, every in items:
        labels = load_any_labels(labels_path)
        with VideoSource(str(clip), frame_size) as source:
            fit = source.fit
            frames = [f.image for f in source.frames()]
        track = labeled_track(labels_path, len(frames), fit)
        for j in range(0, len(labels.frames), every):
            f = int(labels.frames[j])
            crops.append((group, np.ascontiguousarray(frames[f]), track[f].astype(np.float32), fit,
                          labels.joints2d[j:j + 1], labels.visible[j:j + 1]))
    return crops


def score(graph: torch.nn.Module, crops: list[tuple]) -> dict[str, float]:
    """PCK@0.2 per group of the export graph's 2D (``build_posenet_graph``: frame pixels) on ``crops``."""
    from train.metrics.keypoints import pck_hits

    hits = {g: [0, 0] for g in GROUPS}
    for group, frame, row, fit, joints, visible in crops:
        with torch.inference_mode():
            pose = graph(torch.from_numpy(frame)[None], torch.from_numpy(row[None]))[2][0].numpy()
        hit, counted = pck_hits(fit.to_source(pose)[None], joints, visible)
        hits[group][0] += int(hit.sum())
        hits[group][1] += int(counted.sum())
    return {g: a / b for g, (a, b) in hits.items() if b}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path, help="a landmark-tune model's posenet checkpoint (.pt)")
    ap.add_argument("--tune", type=Path, help="a tune checkpoint (WORK/tune/last.pt); default: the model's head")
    ap.add_argument("--design", action="append", type=Path, default=[], metavar="DIR",
                    help="a rendered manifest folder (its shards' first clips); repeat for more")
    ap.add_argument("--name", help="write benchmarks/results/NAME.{json,md}")
    ap.add_argument("variants", nargs="+", metavar="NAME=SPEC")
    args = ap.parse_args(argv)
    from benchmarks.provenance import machine, save
    from engines.posenet_graph import build_posenet_graph
    from train.checkpoint import load_checkpoint
    from train.landmark_tune.config import LandmarkTuneConfig
    from train.landmark_tune.tune import start_head
    from train.pretrained.tflite_graph import early_convs

    torch.set_num_threads(2)
    graph, _ = build_posenet_graph(load_checkpoint(args.model))
    net = graph.net
    head = net.head.state_dict()
    model = {k: v.clone() for k, v in head.items() if k.startswith("trunk.") and not k.startswith("trunk.presence.")}
    tune = model if args.tune is None else {
        k: v for k, v in torch.load(args.tune, weights_only=True, map_location="cpu")["model"].items() if k in model}
    specs = [v.split("=", 1) for v in args.variants]
    start = early = None
    if any(s.startswith(("blend", "early")) for _, s in specs):
        mediapipe = start_head(LandmarkTuneConfig(trunk=net.cfg.head_trunk))
        start = {k: v for k, v in mediapipe.state_dict().items() if k in model}
        early = tuple(f"trunk.graph.{k}." for k in early_convs(mediapipe.trunk.graph.spec))
    crops = labeled_crops(net.cfg.frame_size, args.design)
    rows = {}
    for name, spec in specs:
        net.head.load_state_dict(variant_state(spec, tune, model, start, early or ()), strict=False)
        rows[name] = {"spec": spec, **score(graph, crops)}
        print(name, " ".join(f"{g} {rows[name][g]:.3f}" for g in GROUPS if g in rows[name]), flush=True)
    if args.name:
        info, described = machine()
        lines = [f"# Head screen on labeled boxes ({args.model}; tune {args.tune or 'the model'})", "", described, "",
                 "| variant | spec | " + " | ".join(GROUPS) + " |", "|---|---|" + "---|" * len(GROUPS)]
        lines += [f"| {n} | `{r['spec']}` | " + " | ".join(f"{r.get(g, float('nan')):.3f}" for g in GROUPS) + " |"
                  for n, r in rows.items()]
        save(Path("benchmarks/results") / args.name, {"machine": info, "rows": rows}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
