"""Does the pose network's loader keep a CPU training step fed? Samples/s of reading and augmenting, next to the step.

Training reads random rows of the cache (memory-mapped pre-crops and small frames) on a thread, one batch
ahead of the step (``train.posenet.fit.Batches``), and augments them on the CPU inside the step
(``train.posenet.fit.network_inputs``: crop jitter, rotation, squash, mirror, colour, blur, noise, occluders;
zoomed frames). This measures, in one run on one machine, for batches of ``--batch``:
- read: cache rows -> tensors (random rows over every shard), on its own;
- augment: ``network_inputs`` on those tensors;
- step: a whole training step as ``fit`` runs it (the batch read ahead while the previous step ran,
  augmentation, forward, backward and AdamW of the ``--model`` size in float32).
The loader keeps the step fed when the step is not longer than the network's share plus the augmentation.

Run: ``python -m benchmarks.posenet_loader --cache cache/posenet`` (about a minute); writes
``benchmarks/results/posenet_loader.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.provenance import machine, save
from train.posenet.cache import load_cache
from train.posenet.config import SIZES
from train.posenet.fit import Batches, FitConfig, losses, network_inputs, rows_to_tensors, split_rows, train_mode
from train.posenet.model import PoseNet

RESULTS = Path(__file__).parent / "results"


def _timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` calls (after one warm-up), and its last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - tic)
    return float(np.median(times)), out


def measure(cache_root: Path, model: str, batch: int, repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    cache = load_cache(cache_root)
    cfg = FitConfig(model=model, batch=batch, cache=str(cache_root), threads=threads)
    rows, _ = split_rows(cache, cfg.val_every)
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    read_s, sample = _timed(lambda: rows_to_tensors(cache, np.sort(rng.choice(rows, batch))), repeats)
    mcfg = SIZES[model]
    augment_s, _ = _timed(lambda: network_inputs(sample, mcfg, cfg, g), repeats)
    net = PoseNet(mcfg)
    train_mode(net, cfg)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-4)

    batches = Batches(cache, rows, batch, torch.Generator().manual_seed(1))

    def whole_step() -> None:
        loss, _ = losses(net, batches.take(), cfg, g)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    try:
        step_s, _ = _timed(whole_step, repeats)
    finally:
        batches.close()
    loader_s = read_s + augment_s
    return {"cache_rows": len(cache), "batch": batch, "model": model, "threads": threads, "repeats": repeats,
            "read_s": round(read_s, 4), "augment_s": round(augment_s, 4), "loader_s": round(loader_s, 4),
            "step_s": round(step_s, 4), "loader_samples_per_s": round(batch / loader_s, 1),
            "read_samples_per_s": round(batch / read_s, 1), "augment_samples_per_s": round(batch / augment_s, 1),
            "step_samples_per_s": round(batch / step_s, 1), "loader_share_of_step": round(loader_s / step_s, 3)}


def report(r: dict, header: str) -> str:
    return "\n".join([
        "# Pose-network loader against the training step",
        "",
        f"Machine: {header}; {r['threads']} threads; batch {r['batch']}; model `{r['model']}` in float32; "
        f"{r['cache_rows']} cached frames; medians of {r['repeats']} batches. `python -m benchmarks.posenet_loader`.",
        "",
        "| part | s per batch | samples/s |",
        "|---|---|---|",
        f"| read (random cache rows -> tensors) | {r['read_s']:.3f} | {r['read_samples_per_s']:.0f} |",
        f"| augment (crops, frames) | {r['augment_s']:.3f} | {r['augment_samples_per_s']:.0f} |",
        f"| **loader** (read + augment) | {r['loader_s']:.3f} | **{r['loader_samples_per_s']:.0f}** |",
        f"| whole training step (read ahead on a thread, augmentation inside) | {r['step_s']:.3f} | "
        f"{r['step_samples_per_s']:.0f} |",
        "",
        f"Read and augmentation together would be {100 * r['loader_share_of_step']:.0f}% of a step; the loader "
        f"alone feeds {r['loader_samples_per_s'] / r['step_samples_per_s']:.1f}x the samples the step consumes, "
        "and the read runs beside the step.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("cache/posenet"))
    ap.add_argument("--model", default="full", choices=sorted(SIZES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "posenet_loader")
    args = ap.parse_args(argv)
    record, header = machine()
    result = {"machine": record, **measure(args.cache, args.model, args.batch, args.repeats, args.threads)}
    save(args.out, result, report(result, header))


if __name__ == "__main__":
    main()
