"""Synthetic-world throughput: frames/s of render + encode + labels, per scenario and frame size.

Targets (issue 4): >= 60 frames/s at 256x256 and >= 25 frames/s at 640x360 on the 2-core dev machine.
Run: ``python -m benchmarks.synth_speed``; writes ``benchmarks/results/synth_speed.json`` and ``.md``.
The anny model is built once before timing (its first build ever takes ~60 s and is cached on disk).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from tvstream.sysinfo import cpu_model
from train.synth.body import BodyModel
from train.synth.generate import SynthConfig, synthesize

RESULTS = Path(__file__).parent / "results"
TARGETS = {(256, 256): 60.0, (640, 360): 25.0}


def measure(body: BodyModel, scenario: str, size: tuple[int, int], seconds: float) -> dict:
    cfg = SynthConfig(scenario=scenario, subjects=1, sequences=1, seconds=seconds, width=size[0], height=size[1])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        entries = synthesize(cfg, tmp, body=body)
        elapsed = time.perf_counter() - start
    frames = len(entries) * cfg.frames
    return {"scenario": scenario, "size": f"{size[0]}x{size[1]}", "frames": frames, "seconds": elapsed,
            "fps": frames / elapsed, "target_fps": TARGETS[size]}


def main() -> None:
    body = BodyModel()
    rows = [measure(body, scenario, size, seconds=6.0) for size in TARGETS for scenario in ("studio", "dive", "ski")]
    machine = {"cpu": cpu_model(), "cores": os.cpu_count()}
    result = {"machine": machine, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Synthetic world throughput (render + encode + labels)", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cores']} cores), Mesa llvmpipe; "
             f"{result['date']}. One subject, one 6 s sequence per scenario (studio renders 4 cameras).", "",
             "| scenario | size | frames | frames/s | target |", "|---|---|---:|---:|---:|"]
    for r in rows:
        ok = "met" if r["fps"] >= r["target_fps"] else "MISSED"
        target = f">= {r['target_fps']:.0f} ({ok})"
        lines.append(f"| {r['scenario']} | {r['size']} | {r['frames']} | {r['fps']:.1f} | {target} |")
    (RESULTS / "synth_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
