"""MediaPipe Pose (Full and Heavy) accuracy on our labeled clips, in the bench's terms: PCK@0.2 of the core joints.

Run: ``python -m benchmarks.peer_accuracy [--bench data/bench] [--variants full,heavy] [--frames-per-clip N]``;
writes ``benchmarks/results/peer_accuracy.{json,md}``. Groups are those of ``benchmarks/pose_bench.py``: one
per bench shard plus ``examples/sample_ski.mp4``. MediaPipe runs in its own venv (see
``benchmarks/peer_mediapipe.py``) through ``benchmarks/mediapipe_worker.py --landmarks``: legacy
``solutions.pose`` in video mode (tracking and smoothing on), whole frames at source size. Its 33 landmarks
are mapped onto the 12 core joints and scored with :func:`train.metrics.keypoints.pck_hits`; a frame where it
found no person misses every visible joint. The Heavy landmark model is not in the wheel; when missing it is
copied from the npm package ``@mediapipe/pose`` (Apache-2.0; its Full model is byte-identical to the wheel's).
Venv, model install and landmark mapping are the product's teacher (:mod:`tvstream.teacher`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.clips import ROOT
from benchmarks.peer_mediapipe import ensure_mp_venv, run_worker
from train.metrics.keypoints import pck_hits
from train.posenet.evaluate import clip_groups
from tvstream.labels import load_any_labels
from tvstream.skeleton import CORE_JOINTS, H36M_17
from tvstream.sysinfo import cpu_model
from tvstream.teacher import mapping
from tvstream.teacher.install import install_model
from tvstream.teacher.mapping import MP_LANDMARK
from tvstream.teacher.specs import NPM_PACKAGE

RESULTS = Path(__file__).parent / "results"
VARIANTS = {"full": 1, "heavy": 2}  # name -> model_complexity
HEAVY = "pose_landmark_heavy.tflite"


def to_h36m(landmarks: np.ndarray) -> np.ndarray:
    """(N, 33, >=2) MediaPipe landmarks (x, y px first) -> (N, 17, 2) H36M joints; only the 12 core joints,
    which MediaPipe has as such (:data:`tvstream.teacher.mapping.MP_LANDMARK`), the others NaN."""
    if landmarks.ndim != 3 or landmarks.shape[1] != 33 or landmarks.shape[2] < 2:
        raise ValueError(f"landmarks must be (N, 33, >=2), got {landmarks.shape}")
    out = np.full((len(landmarks), H36M_17.num_joints, 2), np.nan, np.float32)  # (N, 17, 2)
    core = [H36M_17.index(name) for name in MP_LANDMARK]
    out[:, core] = mapping.to_h36m(landmarks[..., :2])[:, core]
    return out


def score_clip(frames: np.ndarray, landmarks: np.ndarray, labels) -> dict[str, np.ndarray]:
    """Per labeled frame: core-joint hits, counted joints and whether a person was found.

    Args:
        frames: (M,) stream indices of the worker's frames.
        landmarks: (M, 33, 3) their landmarks (NaN rows: no person).
        labels: the clip's :class:`tvstream.labels.VideoLabels`; labeled frames the worker did not reach
            (``--frames-per-clip``) are left out.
    """
    pos = {int(f): k for k, f in enumerate(frames)}
    keep = [r for r, f in enumerate(labels.frames) if int(f) in pos]
    rows = [pos[int(labels.frames[r])] for r in keep]
    pred = to_h36m(landmarks[rows]) if rows else np.zeros((0, H36M_17.num_joints, 2), np.float32)
    # NaN predictions compare False, so a frame without a person misses every counted joint
    hits, counted = pck_hits(pred, labels.joints2d[keep], labels.visible[keep])
    found = np.isfinite(pred[:, list(CORE_JOINTS)]).all(axis=(1, 2))
    return {"hits": hits.sum(1), "counted": counted.sum(1), "found": found}


def summarise(parts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Clip scores -> ``{"frames", "found" (fraction), "pck"}`` over all their frames."""
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    counted = cat["counted"].sum()
    return {"frames": int(len(cat["found"])), "found": float(cat["found"].mean()) if len(cat["found"]) else 0.0,
            "pck": float(cat["hits"].sum() / counted) if counted else float("nan")}


def install_heavy(python: Path) -> str:
    """Copy the Heavy landmark model from the npm package into the MediaPipe venv; its sha256."""
    return hashlib.sha256(install_model(python, HEAVY).read_bytes()).hexdigest()


def run_variant(python: Path, video: Path, complexity: int, max_frames: int | None,
                tmp: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """One clip through the worker: (frames (M,), landmarks (M, 33, 3), seconds)."""
    out = tmp / "landmarks.npz"
    info = run_worker(python, str(video), "--complexity", str(complexity), "--landmarks", str(out),
                      *(["--frames", str(max_frames)] if max_frames else []))
    with np.load(out) as d:
        return d["frames"], d["landmarks"], info["seconds"]


def measure(python: Path, groups: dict[str, list[tuple[Path, Path]]], variants: list[str],
            max_frames: int | None) -> dict[str, dict]:
    """Group name -> variant -> summary (plus ``fps``); and a ``bench (all)`` row over the bench shards."""
    rows: dict[str, dict] = {}
    everything: dict[str, list] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for name, clips in groups.items():
            rows[name] = {}
            for v in variants:
                parts, seconds, n = [], 0.0, 0
                for video, labels in clips:
                    frames, marks, s = run_variant(python, video, VARIANTS[v], max_frames, Path(tmp))
                    parts.append(score_clip(frames, marks, load_any_labels(labels)))
                    seconds, n = seconds + s, n + len(frames)
                rows[name][v] = {**summarise(parts), "fps": round(n / seconds, 1) if seconds else 0.0}
                if name != "sample_ski":
                    everything[v] += parts
                print(f"{name} {v}: {rows[name][v]}", file=sys.stderr)
    if any(everything.values()):
        rows["bench (all)"] = {v: summarise(p) for v, p in everything.items()}
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=ROOT / "data" / "bench", metavar="DIR",
                    help="folder of bench shards (each with manifest.json)")
    ap.add_argument("--no-sample", action="store_true", help="leave out examples/sample_ski.mp4")
    ap.add_argument("--variants", default="full,heavy", help="MediaPipe landmark models: full, heavy")
    ap.add_argument("--frames-per-clip", type=int, default=None, metavar="N", help="first N frames of each clip")
    ap.add_argument("--mp-venv", type=Path, default=ROOT / ".mpvenv", help="MediaPipe's venv (made when missing)")
    ap.add_argument("--out", type=Path, default=RESULTS / "peer_accuracy", help="results path without extension")
    args = ap.parse_args(argv)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variant {sorted(unknown)[0]!r} (choose from {', '.join(VARIANTS)})")
    if not args.bench.is_dir():
        ap.error(f"--bench {args.bench}: no such folder")

    python = ensure_mp_venv(args.mp_venv)
    heavy_sha = install_heavy(python) if "heavy" in variants else None
    versions = run_worker(python, "--probe")
    groups = clip_groups(args.bench, not args.no_sample)
    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M"),
        "mediapipe": {"versions": versions, "heavy_sha256": heavy_sha, "heavy_source": f"npm {NPM_PACKAGE}"},
        "bench": os.path.relpath(args.bench, ROOT), "frames_per_clip": args.frames_per_clip,
        "variants": variants, "groups": measure(python, groups, variants, args.frames_per_clip),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(report(result))
    print(report(result))
    return result


def report(result: dict) -> str:
    m, v = result["machine"], result["mediapipe"]["versions"]
    frames = f"first {result['frames_per_clip']} frames of each clip" if result["frames_per_clip"] else "all frames"
    names = [n.capitalize() for n in result["variants"]]
    lines = ["# MediaPipe Pose accuracy on the bench set and the sample clip", "",
             f"Machine: {m['cpu']} ({m['cores']} cores); {result['date']}. MediaPipe {v['mediapipe']} legacy Pose "
             f"(PyAV {v['av']}), video mode (tracking and smoothing on), whole frames at source size; {frames}. "
             "PCK@0.2: 12 core joints, 0.2 x the labeled torso diagonal, as `benchmarks/pose_bench.py`; a frame "
             "without a person misses every visible joint. found: labeled frames where MediaPipe found a person.",
             "", "| clips | frames | " + " | ".join(f"found {n} | PCK@0.2 {n}" for n in names) + " |",
             "|---|---:|" + "---:|---:|" * len(names)]
    for group, row in result["groups"].items():
        first = row[result["variants"][0]]
        cols = " | ".join(f"{row[k]['found']:.3f} | {row[k]['pck']:.3f}" for k in result["variants"])
        lines.append(f"| {group} | {first['frames']} | {cols} |")
    lines += ["", "fps (worker, decoding included): " + "; ".join(
        f"{group} " + ", ".join(f"{n} {row[k]['fps']:.0f}" for n, k in zip(names, result["variants"]))
        for group, row in result["groups"].items() if group != "bench (all)") + "."]
    if result["mediapipe"]["heavy_sha256"]:
        lines.append(f"Heavy model: `pose_landmark_heavy.tflite` from {result['mediapipe']['heavy_source']} "
                     f"(sha256 {result['mediapipe']['heavy_sha256'][:16]}...).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
