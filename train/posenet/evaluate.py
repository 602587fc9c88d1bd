"""Score an exported model on labeled clips the way the runtime sees them (bench set, sample clip).

Each clip is decoded by the runtime's own ``VideoSource`` at the model's input size and run through the
backend frame by frame (detector on every frame, no tracking, no smoothing: the model alone); outputs are
mapped to source pixels as ``tvstream run`` does. Per clip group: PCK@0.2 of the 12 core joints (0.2 x the
labeled torso diagonal), box IoU with the labeled box, MPJPE and P-MPJPE of the pelvis-relative 3D joints
(mm); and the model's ms/frame at batch 1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engines.backends import load_backend
from train.metrics.keypoints import pck_hits
from train.metrics.pose import mpjpe, p_mpjpe
from train.ssl.box_eval import box_iou
from tvstream.labels import load_any_labels
from tvstream.manifest import discover
from tvstream.pipeline import to_source_pixels
from tvstream.sources import VideoSource

SAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "sample_ski.mp4"


def model_outputs(backend, video: Path, batch: int = 8) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """Every frame's outputs (source pixels for box / pose2d) and the source size (H, W)."""
    size = backend.metadata.input_size
    chunks: dict[str, list[np.ndarray]] = {}
    with VideoSource(str(video), size) as source:
        src = (source.height, source.width)
        frames = list(source.frames())
    for i in range(0, len(frames), batch):
        out = backend.infer(np.stack([f.image for f in frames[i:i + batch]]))
        for k, v in out.items():
            chunks.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in chunks.items()}
    out["pose2d"] = to_source_pixels(out["pose2d"], size, src)
    out["box"] = to_source_pixels(out["box"].reshape(-1, 2, 2), size, src).reshape(-1, 4)
    return out, src


def score_clip(out: dict[str, np.ndarray], labels_path: Path) -> dict[str, np.ndarray]:
    """Per-frame hit counts and errors of one clip against its labels."""
    labels = load_any_labels(labels_path)
    rows = np.asarray(labels.frames, int)
    keep = rows < len(out["box"])
    rows, idx = rows[keep], np.flatnonzero(keep)
    hits, counted = pck_hits(out["pose2d"][rows], labels.joints2d[idx], labels.visible[idx])
    result = {"hits": hits.sum(1), "counted": counted.sum(1), "iou": box_iou(out["box"][rows], labels.box[idx])}
    if labels.joints3d is not None:
        gt = labels.joints3d[idx] - labels.joints3d[idx][:, :1]
        pred = out["pose3d"][rows] - out["pose3d"][rows][:, :1]
        result |= {"mpjpe": mpjpe(pred, gt), "p_mpjpe": p_mpjpe(pred, gt)}
    return result


def summarise(parts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    row = {"frames": int(len(cat["iou"])), "pck": float(cat["hits"].sum() / max(cat["counted"].sum(), 1)),
           "box_iou": float(cat["iou"].mean())}
    if "mpjpe" in cat:
        row |= {"mpjpe": float(cat["mpjpe"].mean()), "p_mpjpe": float(cat["p_mpjpe"].mean())}
    return row


def clip_groups(bench: Path | None, sample: bool) -> dict[str, list[tuple[Path, Path]]]:
    """Group name -> (video, labels) pairs: one group per bench shard, plus the sample clip."""
    groups: dict[str, list[tuple[Path, Path]]] = {}
    if bench is not None:
        for shard in sorted(p for p in bench.iterdir() if (p / "manifest.json").is_file()):
            groups[shard.name] = [(Path(e.video), Path(e.labels)) for e in discover(shard) if e.labels]
    if sample:
        groups["sample_ski"] = [(SAMPLE, SAMPLE.with_suffix(".npz"))]
    return groups


def latency_ms(backend, repeats: int = 60) -> float:
    """Median model-only milliseconds per frame at batch 1."""
    h, w = backend.metadata.input_size
    frame = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    for _ in range(5):
        backend.infer(frame)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        backend.infer(frame)
        times.append(time.perf_counter() - tic)
    return float(np.median(times) * 1000)


def bench_model(model: str, groups: dict[str, list[tuple[Path, Path]]]) -> dict:
    backend = load_backend(model, "onnxruntime")
    rows, everything = {}, []
    for name, clips in groups.items():
        parts = [score_clip(model_outputs(backend, v)[0], lab) for v, lab in clips]
        rows[name] = summarise(parts)
        if name != "sample_ski":
            everything += parts
    if everything:
        rows["bench (all)"] = summarise(everything)
    return {"model": model, "hash": backend.metadata.model_hash, "ms_per_frame": latency_ms(backend),
            "onnx_bytes": Path(model).stat().st_size, "groups": rows}
