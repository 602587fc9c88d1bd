"""How far a landmark tune moved its early layers' map from the start network's, on real and on rendered crops.

The map is what the first 1/16 convolution reads (``train.landmark_tune.tune.EarlyMap``), the distance
``mean((tuned - start)^2) / mean(start^2)`` (``map_distance``), on ``--n`` crops of each source of a work folder's
``crops/`` (the tune's own training crops, drawn with a fixed seed). Session 53: the recipe's tune (the default's)
0.085 on real crops and 0.091 on rendered ones; ED (``--early-distill 10``) 0.0002 in its own log; FE 0.

Run: ``python -m benchmarks.early_map_drift --crops runs/ed/crops runs/s47/ltp/tune/last.pt runs/ed/tune/last.pt
[--name s53_map_drift]`` (needs MediaPipe's weights: the teacher venv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

SOURCES = ("real", "render")


def crop_batches(folder: Path, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` crops (or all, where fewer) of each source's crops file in ``folder`` (its ``x``, the images alone),
    as the network's normalised input."""
    from train.landmark_tune.tune import normalise

    g = np.random.default_rng(seed)
    out = {}
    for source in SOURCES:
        with np.load(folder / f"{source}.npz") as f:
            x = f["x"]
        pick = np.sort(g.choice(len(x), min(n, len(x)), replace=False))
        out[source] = normalise(torch.from_numpy(x[pick]).permute(0, 3, 1, 2).float() / 255.0)
    return out


def map_drift(head: torch.nn.Module, states: dict[str, dict[str, torch.Tensor]],
              batches: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """For each named state (a tune's head weights), the early map's distance from ``head``'s own (the start) on
    each batch. ``head`` is returned to its own weights."""
    from train.landmark_tune.tune import EarlyMap, map_distance

    tap = EarlyMap(head)
    own = {k: v.clone() for k, v in head.state_dict().items()}

    def maps() -> dict[str, torch.Tensor]:
        out = {}
        with torch.no_grad():
            for source, x in batches.items():
                head.trunk(x)
                out[source] = tap.map
        return out

    head.eval()
    start = maps()
    drift = {}
    try:
        for name, state in states.items():
            missing = [k for k in own if k.startswith("trunk.graph.") and k not in state]
            if missing:  # a drift of 0 must mean the same weights, not weights never loaded
                raise ValueError(f"{name}: not a tune of this network (no {', '.join(missing[:3])})")
            head.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
            drift[name] = {s: float(map_distance(m, start[s])) for s, m in maps().items()}
    finally:
        head.load_state_dict(own)
    return drift


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", required=True, type=Path, help="a landmark-tune work folder's crops/")
    ap.add_argument("--n", type=int, default=48, help="crops of each source (default 48)")
    ap.add_argument("--trunk", default="blazepose_full", help="the start network (default blazepose_full)")
    ap.add_argument("--name", help="write benchmarks/results/NAME.{json,md}")
    ap.add_argument("tunes", nargs="+", type=Path, help="tune checkpoints (WORK/tune/last.pt)")
    args = ap.parse_args(argv)
    from benchmarks.provenance import machine, save
    from train.checkpoint import load_checkpoint
    from train.landmark_tune.config import LandmarkTuneConfig
    from train.landmark_tune.tune import start_head

    torch.set_num_threads(2)
    head = start_head(LandmarkTuneConfig(trunk=args.trunk))
    states = {str(p): load_checkpoint(p)["model"] for p in args.tunes}  # a bad file: a one-line CheckpointError
    drift = map_drift(head, states, crop_batches(args.crops, args.n))
    for name, row in drift.items():
        print(name, " ".join(f"{s} {v:.5f}" for s, v in row.items()), flush=True)
    if args.name:
        info, described = machine()
        lines = [f"# The early layers' map, moved from {args.trunk}'s ({args.crops}, {args.n} crops a source)", "",
                 described, "", "| tune | " + " | ".join(SOURCES) + " |", "|---|" + "---|" * len(SOURCES)]
        lines += [f"| `{n}` | " + " | ".join(f"{r[s]:.5f}" for s in SOURCES) + " |" for n, r in drift.items()]
        save(Path("benchmarks/results") / args.name, {"machine": info, "crops": str(args.crops), "n": args.n,
                                                      "drift": drift}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
