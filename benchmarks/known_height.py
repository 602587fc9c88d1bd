"""What the athlete's height (``tvstream run --height``) does to the 3D and the root, on the bench through the run.

Each bench clip (and the sample) runs through the product's path twice: as it is, and with ``height_m`` set to
its subject's true height (the labeled skeleton's standing chain, :func:`tvstream.stature.standing_chain`, times
:data:`tvstream.stature.STATURE_PER_CHAIN`: what a user who knows the height would give). Both runs solve the
root through the clip's true intrinsics (``K`` from its labels, no floor: the case the skeleton's scale decides).
Per clip group: MPJPE and P-MPJPE (root-relative, mm, frames the run reported) and the root's median error as a
share of the true distance.

Run: ``python -m benchmarks.known_height --bench data/bench [--name known_height]``; writes
``benchmarks/results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from train.metrics.pose import mpjpe, p_mpjpe
from train.posenet.evaluate import ClipReader, clip_groups, scenario_of
from tvstream.camera import SceneCamera
from tvstream.labels import load_any_labels
from tvstream.pipeline import RunOptions, estimate
from tvstream.sources import VideoSource
from tvstream.stature import STATURE_PER_CHAIN, standing_chain
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"


def true_height_m(joints3d: np.ndarray) -> float:
    """The subject's height from its labeled skeleton ``(T, 17, 3)`` mm: the median standing chain x the ratio."""
    chains = [standing_chain(j) for j in joints3d if np.isfinite(j).all()]
    return float(np.median(chains)) * STATURE_PER_CHAIN / 1000


def run_clip(reader: ClipReader, group: str, video: Path, K: np.ndarray, height_m: float | None) -> dict:
    """The run's per-frame root-relative 3D and root position (NaN where not reported or not solved)."""
    backend, finder = reader.run_backends(video)
    options = replace(RunOptions(), scenario=scenario_of(group), height_m=height_m)
    pose3d, root = [], []
    with VideoSource(str(video), backend.metadata.input_size) as source:
        camera = None if K is None else SceneCamera(K=np.asarray(K, np.float64), width=source.width, intrinsics="file")
        for r in estimate(source, backend, options, camera=camera, finder=finder):
            pose3d.append(r.pose3d if r.detected else np.full((17, 3), np.nan))
            found = r.detected and r.root is not None and r.root.position is not None
            root.append(r.root.position if found else np.full(3, np.nan))
    return {"pose3d": np.stack(pose3d), "root": np.stack(root)}


def score(out: dict, labels, rooted: bool) -> dict[str, np.ndarray]:
    rows = np.asarray(labels.frames, int)
    keep = rows < len(out["pose3d"])
    rows, gt = rows[keep], labels.joints3d[keep]
    pred = out["pose3d"][rows] - out["pose3d"][rows][:, :1]
    rel = gt - gt[:, :1]
    found = np.isfinite(pred).all(axis=(1, 2)) & np.isfinite(rel).all(axis=(1, 2))
    root = out["root"][rows]
    solved = np.isfinite(root).all(1) & rooted
    return {"mpjpe": mpjpe(pred[found], rel[found]), "p_mpjpe": p_mpjpe(pred[found], rel[found]),
            "root_share": np.linalg.norm(root[solved] - gt[solved, 0], axis=1) / np.linalg.norm(gt[solved, 0], axis=1)}


def summary(parts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return {"frames": int(len(cat["mpjpe"])), "mpjpe": float(cat["mpjpe"].mean()),
            "p_mpjpe": float(cat["p_mpjpe"].mean()), "root_median_pct": float(100 * np.median(cat["root_share"])) if len(cat["root_share"]) else float("nan")}


def benchmark(model: str, groups: dict[str, list[tuple[Path, Path]]]) -> dict:
    reader = ClipReader(model)
    rows: dict[str, dict] = {}
    pooled: dict[str, list] = {"without": [], "with": []}
    heights = []
    for name, clips in groups.items():
        parts: dict[str, list] = {"without": [], "with": []}
        for video, labels_path in clips:
            labels = load_any_labels(labels_path)
            height = true_height_m(labels.joints3d)
            heights.append(height)
            # a fixed camera's K; a moving one (pan and zoom) has one a row, and the run takes one a clip
            fixed = labels.frame_cameras is None and scenario_of(name) != "ski"  # the sample: one K, a moving camera
            K = labels.camera.K if labels.camera is not None and fixed else None
            for arm, h in (("without", None), ("with", height)):
                parts[arm].append(score(run_clip(reader, name, video, K, h), labels, K is not None))
        rows[name] = {arm: summary(p) for arm, p in parts.items()}
        if name != "sample_ski":
            for arm in pooled:
                pooled[arm] += parts[arm]
        print(name, rows[name], flush=True)
    if pooled["without"]:
        rows["bench (all)"] = {arm: summary(p) for arm, p in pooled.items()}
    return {"model": model, "machine": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M"), "groups": rows,
            "heights_m": [min(heights), float(np.median(heights)), max(heights)]}


def markdown(result: dict) -> str:
    lo, mid, hi = result["heights_m"]
    lines = ["# The athlete's height given (`tvstream run --height`): the bench through the run", "",
             f"Machine: {result['machine']} (2 cores); {result['date']}. Model `{result['model']}`. Each clip run "
             "twice through the product's path, the root solved through the clip's true K (no floor); with "
             f"`--height` its subject's true height ({lo:.2f}-{hi:.2f} m, median {mid:.2f}). MPJPE / P-MPJPE: "
             "root-relative, mm, frames reported; root: the median error as a share of the true distance.", "",
             "| clips | frames | MPJPE | with height | P-MPJPE | with height | root median % | with height |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in result["groups"].items():
        a, b = g["without"], g["with"]
        lines.append(f"| {name} | {a['frames']} | {a['mpjpe']:.1f} | {b['mpjpe']:.1f} | {a['p_mpjpe']:.1f} | "
                     f"{b['p_mpjpe']:.1f} | {a['root_median_pct']:.1f} | {b['root_median_pct']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tvstream/models/default.onnx")
    ap.add_argument("--bench", type=Path, required=True, help="the bench world (python -m train.synth.world bench)")
    ap.add_argument("--name", default="known_height")
    args = ap.parse_args(argv)
    result = benchmark(args.model, clip_groups(args.bench, True))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
