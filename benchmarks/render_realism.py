"""Which parts of the renderer make its people read as people? MediaPipe Pose on the same recipe with parts left out.

MediaPipe never saw our renders, so its PCK@0.2 against our labels is the realism check of the synthetic world
(issue "A training world that teaches pose"). This renders one small set per variant of a scenario -- the world's
recipe (contact shadows, garments printed with photo patches, H.264 at CRF 16-34) and the recipe with one of
them left out, and with all of them left out -- and scores MediaPipe Full on each (whole frames, video mode).
Variants draw other bodies and motions from the same seed once a part changes how many random numbers are
drawn, so each variant holds several bodies; read differences against the spread across clips.

Run: ``python -m benchmarks.render_realism [--scenarios ski,varied] [--subjects 10]`` (about 10 minutes on 2 cores);
writes ``benchmarks/results/render_realism.{json,md}``. Sets go to ``data/realism/`` (ignored).
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.clips import ROOT
from benchmarks.peer_accuracy import VARIANTS, run_variant, score_clip, summarise
from benchmarks.peer_mediapipe import ensure_mp_venv, run_worker
from benchmarks.provenance import machine, save
from train.synth.generate import SynthConfig, synthesize
from train.synth.world import is_done
from tvstream.labels import load_any_labels
from tvstream.manifest import discover

RESULTS = Path(__file__).parent / "results"


def variants(base: SynthConfig) -> dict[str, SynthConfig]:
    """The recipe, each part left out, and every part left out."""
    return {
        "recipe (shadows, fabrics, CRF 16-34)": base,
        "no shadows": replace(base, shadows=False),
        "no fabrics": replace(base, textures=None),
        "CRF 20 only": replace(base, crf=(20, 20)),
        "none of them": replace(base, shadows=False, textures=None, crf=(20, 20)),
    }


def score_set(python: Path, folder: Path, tmp: Path) -> dict:
    """MediaPipe Full over every clip of a rendered set: the summary plus the spread of per-clip PCK."""
    parts = []
    for entry in discover(folder):
        frames, marks, _ = run_variant(python, entry.video, VARIANTS["full"], None, tmp)
        parts.append(score_clip(frames, marks, load_any_labels(entry.labels)))
    per_clip = [float(p["hits"].sum() / max(p["counted"].sum(), 1)) for p in parts]
    return {**summarise(parts), "clips": len(parts), "clip_pck_std": float(np.std(per_clip))}


def report(result: dict, header: str) -> str:
    lines = ["# Renderer parts against MediaPipe's realism check", "",
             f"Machine: {header}; {result['date']}. MediaPipe Full (legacy Pose, video mode) on sets rendered by "
             "`python -m benchmarks.render_realism`; PCK@0.2 of the 12 core joints against our labels. "
             f"Each set: {result['subjects']} bodies x 1 take of {result['seconds']} s at 640x360, seed "
             f"{result['seed']}; the `_photo` rows on training photo plates.", "",
             "| scenario | variant | clips | frames | found | PCK@0.2 | per-clip std |", "|---|---|---:|---:|---:|---:|---:|"]
    for scenario, rows in result["sets"].items():
        for name, r in rows.items():
            lines.append(f"| {scenario} | {name} | {r['clips']} | {r['frames']} | {r['found']:.3f} | {r['pck']:.3f} | "
                         f"{r['clip_pck_std']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="ski,varied_photo", help="scenarios; _photo: on the training photo plates")
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--plates", type=Path, default=ROOT / "data" / "plates")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "realism")
    ap.add_argument("--mp-venv", type=Path, default=ROOT / ".mpvenv")
    ap.add_argument("--out", type=Path, default=RESULTS / "render_realism")
    args = ap.parse_args(argv)
    python = ensure_mp_venv(args.mp_venv)
    record, header = machine()
    photos = str(args.plates / "train")
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "subjects": args.subjects,
              "seconds": args.seconds, "seed": args.seed, "mediapipe": run_worker(python, "--probe"), "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in args.scenarios.split(","):
            name = scenario.removesuffix("_photo")
            base = SynthConfig(scenario=name, subjects=args.subjects, sequences=1, seconds=args.seconds, width=640,
                               height=360, seed=args.seed, test_fraction=0.0, labeled_fraction=1.0, crf=(16, 34),
                               textures=photos, backgrounds=photos if scenario.endswith("_photo") else None)
            result["sets"][scenario] = {}
            for k, (variant, cfg) in enumerate(variants(base).items()):
                folder = args.data / f"{scenario}_{k}"
                if not is_done(folder, cfg):  # a set from another recipe is rendered again
                    shutil.rmtree(folder, ignore_errors=True)
                    synthesize(cfg, folder)
                result["sets"][scenario][variant] = score_set(python, folder, Path(tmp))
                print(scenario, variant, result["sets"][scenario][variant], flush=True)
    save(args.out, result, report(result, header))


if __name__ == "__main__":
    main()
