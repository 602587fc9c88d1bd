"""How fast VideoDataset feeds training: samples/s of 3-frame temporal tuples at 128x128.

Target (issue 3): >= 500 samples/s from the frame cache on the 2-core dev machine.
Run: ``python -m benchmarks.sampler_throughput`` (about a minute); writes
``benchmarks/results/sampler.json`` and ``sampler.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from train.data import SamplingConfig, VideoDataset
from train.data.loader import make_loader
from train.data.pattern_video import write_pattern_video
from tvstream.sysinfo import cpu_model, system_info

RESULTS = Path(__file__).parent / "results"
TARGET = 500.0


def _rate_in_process(ds: VideoDataset, n: int, seed: int = 0) -> float:
    idx = np.random.default_rng(seed).integers(0, len(ds), n)
    start = time.perf_counter()
    for i in idx:
        ds[int(i)]
    return n / (time.perf_counter() - start)


def _rate_loader(ds: VideoDataset, batches: int, batch_size: int, workers: int) -> dict[str, float]:
    start = time.perf_counter()
    it = iter(make_loader(ds, batch_size=batch_size, workers=workers, seed=0))
    next(it)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    steady = batches * batch_size / (time.perf_counter() - start)
    return {"samples_per_s": steady, "first_batch_s": first}


def run(work: Path, videos: int, frames: int, size: int) -> dict:
    sampling = SamplingConfig(near=5, far=40, intermediate=False)  # ref, near, far: 3-frame tuples
    for i in range(videos):
        write_pattern_video(work / f"v{i}.mp4", frames, width=320, height=240, camera=i)
    start = time.perf_counter()
    cached = VideoDataset(work, size=(size, size), sampling=sampling, cache_dir=work / "cache")
    build_s = time.perf_counter() - start
    direct = VideoDataset(work, size=(size, size), sampling=sampling)
    out = {
        "setup": {"videos": videos, "frames_per_video": frames, "source": "320x240 H.264 (pattern)",
                  "size": [size, size], "frames_per_sample": sampling.frames_per_item,
                  "near": sampling.near, "far": sampling.far},
        "cache_build_frames_per_s": videos * frames / build_s,
        "cache_in_process_samples_per_s": _rate_in_process(cached, 3000),
        "direct_decode_in_process_samples_per_s": _rate_in_process(direct, 150),
    }
    for workers in (0, 2):
        out[f"cache_loader_b32_w{workers}"] = _rate_loader(cached, batches=60, batch_size=32, workers=workers)
    out["target_samples_per_s"] = TARGET
    out["meets_target"] = out["cache_loader_b32_w2"]["samples_per_s"] >= TARGET
    return out


def write_report(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sampler.json").write_text(json.dumps(result, indent=1) + "\n")
    m, s = result["machine"], result["setup"]
    rows = [
        ("cache, in process (`ds[i]`)", result["cache_in_process_samples_per_s"]),
        ("cache, `make_loader` batch 32, 0 workers", result["cache_loader_b32_w0"]["samples_per_s"]),
        ("cache, `make_loader` batch 32, 2 workers", result["cache_loader_b32_w2"]["samples_per_s"]),
        ("direct seek + decode, in process", result["direct_decode_in_process_samples_per_s"]),
    ]
    lines = [
        "# VideoDataset sampler throughput",
        "",
        f"Machine: {m['cpu']} ({m['cores']} cores), Python {m['python']}, PyAV {m['av']}, torch {m['torch']}; "
        f"{result['date']}.",
        f"Data: {s['videos']} videos x {s['frames_per_video']} frames, {s['source']}; samples are "
        f"{s['frames_per_sample']}-frame tuples (ref, near <= {s['near']}, far = {s['far']}) at "
        f"{s['size'][0]}x{s['size'][1]}.",
        "",
        "| path | samples/s |",
        "|---|---:|",
        *[f"| {name} | {rate:,.0f} |" for name, rate in rows],
        "",
        f"Cache build (decode + scale + write): {result['cache_build_frames_per_s']:,.0f} frames/s. "
        f"First loader batch with 2 workers (forkserver start): "
        f"{result['cache_loader_b32_w2']['first_batch_s']:.2f} s.",
        "",
        f"Target >= {TARGET:.0f} samples/s from the cache with the training loader: "
        f"**{'met' if result['meets_target'] else 'MISSED'}**.",
    ]
    (RESULTS / "sampler.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    info = system_info(probe_torch=True)
    with tempfile.TemporaryDirectory(prefix="tvstream-bench-") as tmp:
        result = run(Path(tmp), args.videos, args.frames, args.size)
    result["machine"] = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": info["python"],
                         "av": info["av"]["version"], "torch": (info["torch"] or {}).get("version")}
    result["date"] = time.strftime("%Y-%m-%d")
    write_report(result)
    print((RESULTS / "sampler.md").read_text())


if __name__ == "__main__":
    main()
