"""Seconds per self-supervised training step (forward + backward + Adam) and peak memory, per model size.

Targets (issue 5): ``small`` at batch 32 of (ref, near, far) tuples <= 1.0 s on the 2-core dev machine;
``paper`` on a GPU (torch CUDA, AMP) <= 0.15 s/step at batch 32 (>= 10x the paper's 1.56 s on a V100).
Run: ``python -m benchmarks.ssl_step_time [--device cpu|cuda]``; writes ``benchmarks/results/ssl_step_time.json``
and ``.md`` on CPU, ``ssl_step_time_gpu.json`` and ``.md`` on CUDA. Each row runs in its own process, so its
peak memory is its own (CPU: peak RSS of that process; CUDA: ``torch.cuda.max_memory_allocated``).
Random frames stand in for video (the data path is measured by ``sampler_throughput``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
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
# (model, variant, batch, bfloat16 autocast on CPU); CUDA rows always run fp16 AMP
CPU_ROWS = (("tiny", "Ours", 32, False), ("small", "Ours", 32, False), ("small", "Ours", 32, True),
            ("small", "DSL", 32, False))
GPU_ROWS = (("tiny", "Ours", 32, False), ("small", "Ours", 32, False), ("small", "Ours", 128, False),
            ("paper", "Ours", 32, False), ("paper", "DSL", 32, False))
PAPER_V100_S = 1.56  # the paper's reported seconds per step on one V100 (batch 32)


def step_time(model_size: str, variant: str, batch: int, device: str, cpu_amp: bool = False, frames: int = 3,
              repeats: int = 8) -> dict:
    """Median seconds per step after a warm-up, as ``train.ssl.fit`` trains (channels-last; fp16 AMP on CUDA,
    bfloat16 autocast on CPU with ``cpu_amp``, the ``cpu_amp`` config field)."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    amp_dtype = torch.float16 if cuda else torch.bfloat16
    cfg = TrainConfig(model=model_size, variant=variant)
    mcfg = model_config(cfg)
    model = SSLModel(mcfg).train().to(dev, memory_format=torch.channels_last)
    perceptual = PerceptualNet().to(dev, memory_format=torch.channels_last) if mcfg.use_decoder else None
    torch.set_flush_denormal(True)  # as train.ssl.fit
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    h, w = mcfg.frame_size
    x = torch.randint(0, 255, (batch, frames, h, w, 3), dtype=torch.uint8, device=dev)
    distance = torch.tensor([0.0, 3, 40, 20][:frames], device=dev).repeat(batch, 1)
    times = []
    for i in range(repeats + 2):
        if cuda:
            torch.cuda.synchronize()
        tic = time.perf_counter()
        with torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=cuda or cpu_amp):
            out = model(x, x, torch.Generator().manual_seed(i))
            loss, _ = ssl_loss(out, distance, VARIANTS[variant], LossWeights(), perceptual, 40.0, "temporal",
                               mcfg.perceptual_size)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if cuda:
            torch.cuda.synchronize()
        if i >= 2:  # the first steps warm up allocators and cuDNN's algorithm search
            times.append(time.perf_counter() - tic)
    peak = (torch.cuda.max_memory_allocated(dev) if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    s = sorted(times)[len(times) // 2]
    return {"model": model_size, "variant": variant, "batch": batch, "frames_per_item": frames, "device": device,
            "amp": "fp16" if cuda else ("bf16" if cpu_amp else None), "s_per_step": s, "it_per_s": 1 / s,
            "frames_per_s": batch * frames / s,
            "peak_memory_mb": peak / 2**20, "memory_kind": "cuda allocated" if cuda else "process RSS",
            "threads": torch.get_num_threads()}


def _row_in_child(queue: mp.Queue, args: tuple) -> None:
    queue.put(step_time(*args))


def run_isolated(args: tuple) -> dict:
    """One row in a fresh process (spawned: CUDA cannot be forked), so peak memory is that row's alone."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_row_in_child, args=(queue, args))
    proc.start()
    row = queue.get()
    proc.join()
    return row


def _precision(row: dict) -> str:
    return {"fp16": "fp16 AMP", "bf16": "bf16 autocast", None: "fp32"}[row["amp"]]


def machine(device: str) -> dict:
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def report(result: dict) -> str:
    gpu = result["device"] == "cuda"
    for r in result["rows"]:  # results written before the precision column said True for CUDA AMP
        r["amp"] = "fp16" if r["amp"] is True else (None if r["amp"] is False else r["amp"])
    where = f"{result['machine']['gpu']} (torch CUDA, AMP fp16)" if gpu else \
        f"{result['machine']['cpu']} ({result['machine']['cores']} cores)"
    lines = [f"# Self-supervised training step time and memory ({'GPU' if gpu else 'CPU'})", "",
             f"Machine: {where}, torch {result['machine']['torch']}; {result['date']}. Median of 8 steps after 2 "
             "warm-up steps, items of (ref, near, far) frames, perceptual loss at the config's perceptual_size "
             "(random-init ResNet18). Each row in its own process.", "",
             "| model | variant | batch | precision | s/step | it/s | frames/s | peak memory (MB) |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['variant']} | {r['batch']} | {_precision(r)} | {r['s_per_step']:.3f} | "
              f"{r['it_per_s']:.1f} | "
              f"{r['frames_per_s']:.0f} | {r['peak_memory_mb']:.0f} ({r['memory_kind']}) |" for r in result["rows"]]

    def pick(model: str, amp: str | None) -> float | None:
        return next((r["s_per_step"] for r in result["rows"]
                     if r["model"] == model and r["variant"] == "Ours" and r["batch"] == 32 and r["amp"] == amp), None)

    lines.append("")
    if gpu and pick("paper", "fp16") is not None:
        s = pick("paper", "fp16")
        lines.append(f"Target: `paper` Ours at batch 32 <= 0.15 s/step: **{'met' if s <= 0.15 else 'MISSED'}** "
                     f"({s:.3f} s; {PAPER_V100_S / s:.0f}x the paper's {PAPER_V100_S} s on a V100).")
    elif not gpu and pick("small", None) is not None:
        s, s16 = pick("small", None), pick("small", "bf16")
        lines.append(f"Target: `small` Ours <= 1.0 s/step: float32 **{'met' if s <= 1.0 else 'MISSED'}** ({s:.2f} s)"
                     + (f"; with `--set cpu_amp=true` (bfloat16 autocast) **{'met' if s16 <= 1.0 else 'MISSED'}** "
                        f"({s16:.2f} s)." if s16 is not None else "."))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no GPU")
    rows = [run_isolated(row[:3] + (args.device, row[3])) for row in (GPU_ROWS if args.device == "cuda" else CPU_ROWS)]
    result = {"machine": machine(args.device), "device": args.device, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    stem = "ssl_step_time_gpu" if args.device == "cuda" else "ssl_step_time"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = report(result)
    (args.out_dir / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
