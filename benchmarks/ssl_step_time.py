"""Seconds per self-supervised training step (forward + backward + Adam) per model size on this machine.

Target (issue 5): ``small`` at batch 32 of (ref, near, far) tuples <= 1.0 s on the 2-core dev machine.
Run: ``python -m benchmarks.ssl_step_time``; writes ``benchmarks/results/ssl_step_time.json`` and ``.md``.
Random frames stand in for video (the data path is measured by ``sampler_throughput``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from tvstream.sysinfo import cpu_model
from train.losses.reconstruction import PerceptualNet
from train.ssl.config import TrainConfig
from train.ssl.fit import model_config
from train.ssl.objective import LossWeights, ssl_loss
from train.models.ssl_model import SSLModel
from train.ssl.variants import VARIANTS

RESULTS = Path(__file__).parent / "results"


def step_time(model_size: str, variant: str, batch: int, frames: int, repeats: int = 4) -> dict:
    cfg = TrainConfig(model=model_size, variant=variant)
    mcfg = model_config(cfg)
    model = SSLModel(mcfg).train().to(memory_format=torch.channels_last)  # as train.ssl.fit does
    perceptual = PerceptualNet().to(memory_format=torch.channels_last) if mcfg.use_decoder else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    h, w = mcfg.frame_size
    x = torch.randint(0, 255, (batch, frames, h, w, 3), dtype=torch.uint8)
    distance = torch.tensor([0.0, 3, 40, 20][:frames]).repeat(batch, 1)
    times = []
    for i in range(repeats + 1):
        tic = time.perf_counter()
        out = model(x, x, torch.Generator().manual_seed(i))
        loss, _ = ssl_loss(out, distance, VARIANTS[variant], LossWeights(), perceptual, 40.0, "temporal",
                           mcfg.perceptual_size)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up allocators
            times.append(time.perf_counter() - tic)
    return {"model": model_size, "variant": variant, "batch": batch, "frames_per_item": frames,
            "s_per_step": sorted(times)[len(times) // 2], "threads": torch.get_num_threads()}


def main() -> None:
    rows = [step_time("tiny", "Ours", 32, 3), step_time("small", "Ours", 32, 3), step_time("small", "DSL", 32, 3)]
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__},
              "date": time.strftime("%Y-%m-%d"), "rows": rows, "target_small_s": 1.0}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ssl_step_time.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Self-supervised training step time (CPU)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores), torch {torch.__version__}; "
             f"{result['date']}. Median of 4 steps after a warm-up; perceptual loss at the config's "
             "perceptual_size (random-init ResNet18).", "",
             "| model | variant | batch | frames/item | s/step |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['variant']} | {r['batch']} | {r['frames_per_item']} | {r['s_per_step']:.2f} |"
              for r in rows]
    small = next(r for r in rows if r["model"] == "small" and r["variant"] == "Ours")["s_per_step"]
    lines += ["", f"Target: `small` Ours <= 1.0 s/step: **{'met' if small <= 1.0 else 'MISSED'}** ({small:.2f} s)."]
    (RESULTS / "ssl_step_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
