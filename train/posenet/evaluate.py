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
from engines.metadata import TRACK_INPUT
from train.metrics.keypoints import pck_hits
from train.metrics.pose import mpjpe, p_mpjpe
from train.ssl.box_eval import box_iou
from tvstream.detector_view import finder_for, model_for_source
from tvstream.frame_fit import FrameFit
from tvstream.labels import load_any_labels
from tvstream.manifest import discover
from tvstream.sources import VideoSource

SAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "sample_ski.mp4"


def labeled_track(labels_path: Path, frames: int, fit: FrameFit) -> np.ndarray:
    """The model's ``track`` rows ``(frames, 5)`` that crop every labeled frame around its labeled box (the
    detector's box elsewhere): what the pose head reads when the box is right. ``fit``: the source's place in
    the model's frame."""
    labels = load_any_labels(labels_path)
    track = fit.view_rows(frames)  # elsewhere the detector's box, its person detector looking where the run's would
    rows = np.asarray(labels.frames, int)
    keep = rows < frames
    boxes = fit.normalised_boxes(labels.box[keep])  # (n, 4) as the training cache reads labeled boxes
    track[rows[keep]] = np.concatenate([np.ones((len(boxes), 1)), boxes], axis=1)
    return track


def model_outputs(backend, video: Path, batch: int = 8,
                  labels: Path | None = None) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """Every frame's outputs (source pixels for box / pose2d) and the source size (H, W). With ``labels`` the
    labeled frames are cropped around their labeled boxes (:func:`labeled_track`)."""
    size = backend.metadata.input_size
    chunks: dict[str, list[np.ndarray]] = {}
    with VideoSource(str(video), size) as source:
        src, fit = (source.height, source.width), source.fit
        frames = list(source.frames())
    if labels is not None:
        track = labeled_track(labels, len(frames), fit)
    else:
        track = fit.view_rows(len(frames)) if TRACK_INPUT in backend.metadata.inputs else None
    for i in range(0, len(frames), batch):
        out = backend.infer(np.stack([f.image for f in frames[i:i + batch]]),
                            None if track is None else track[i:i + batch])
        for k, v in out.items():
            chunks.setdefault(k, []).append(v)
    out = {k: np.concatenate(v) for k, v in chunks.items()}
    out["pose2d"] = fit.to_source(out["pose2d"])
    out["box"] = fit.to_source(out["box"].reshape(-1, 2, 2), edges=True).reshape(-1, 4)  # edges at integers
    return out, src


class _FromFrame:
    """A video source whose frames start at index ``first`` (the ones before are decoded and dropped): a run
    started there. Everything else is the source's."""

    def __init__(self, source: VideoSource, first: int) -> None:
        self._source, self._first = source, first
        self.started: float | None = None  # time.perf_counter() when the first frame run was handed on

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def frames(self, stop=None):
        for frame in self._source.frames(stop):
            if frame.index >= self._first:
                if self.started is None:
                    self.started = time.perf_counter()
                yield frame


def pipeline_outputs(backend, video: Path, scenario: str, options=None, finder=None, first: int = 0,
                     timing: dict | None = None) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The product's outputs (``tvstream run``: tracking crop, smoothing, ``detected``), per frame, with
    ``options`` (a ``RunOptions``; its scenario is replaced by ``scenario``) or the defaults, and the run's
    ``finder`` (``tvstream.pipeline.estimate``). With ``first``, the run starts at that frame (the frames before
    are decoded, not run; scoring a clip's tail costs the tail, not the clip). ``timing``, a dict, gets
    ``run_s`` (seconds from the first frame run to the last, decoding included) and ``frames`` (how many ran).

    Frames the pipeline does not report as detected (or does not run) get NaN joints and an empty box: they count as
    misses. Row ``i`` is frame ``i``.
    """
    from dataclasses import replace

    from tvstream.pipeline import RunOptions, estimate

    size = backend.metadata.input_size
    k = len(backend.metadata.joints)
    rows: dict[str, list[np.ndarray]] = {"box": [], "pose2d": [], "pose3d": []}
    with VideoSource(str(video), size) as source:
        src = (source.height, source.width)
        run = _FromFrame(source, max(0, first))
        missed = {"box": np.zeros(4), "pose2d": np.full((k, 2), np.nan), "pose3d": np.full((k, 3), np.nan)}  # one
        # each, shared by every row of a frame not reported or not run (np.stack copies them)
        for record in estimate(run, backend, replace(options or RunOptions(), scenario=scenario), finder=finder):
            while len(rows["box"]) < record.frame:  # frames not run
                for key, empty in missed.items():
                    rows[key].append(empty)
            ok = record.detected
            rows["box"].append(record.box if ok else missed["box"])
            rows["pose2d"].append(record.pose2d if ok else missed["pose2d"])
            rows["pose3d"].append(record.pose3d if ok else missed["pose3d"])
    if timing is not None:
        ran = max(0, len(rows["box"]) - first)
        timing.update(run_s=0.0 if run.started is None else time.perf_counter() - run.started, frames=ran)
    if not rows["box"]:
        return {"box": np.zeros((0, 4)), "pose2d": np.zeros((0, k, 2)), "pose3d": np.zeros((0, k, 3))}, src
    return {key: np.stack(v) for key, v in rows.items()}, src


def scenario_of(name: str) -> str:
    """The ``--scenario`` a clip group runs with (from its name): ski (moving camera), dive, else studio."""
    return "ski" if "ski" in name else "dive" if "dive" in name else "studio"


def score_clip(out: dict[str, np.ndarray], labels_path: Path, first: int = 0) -> dict[str, np.ndarray]:
    """Per-frame hit counts and errors of one clip against its labels (its labeled frames from ``first`` on)."""
    labels = load_any_labels(labels_path)
    rows = np.asarray(labels.frames, int)
    keep = (rows >= first) & (rows < len(out["box"]))
    rows, idx = rows[keep], np.flatnonzero(keep)
    pred2d = np.nan_to_num(out["pose2d"][rows], nan=-1e6)  # not detected: a miss
    hits, counted = pck_hits(pred2d, labels.joints2d[idx], labels.visible[idx])
    result = {"hits": hits.sum(1), "counted": counted.sum(1), "iou": box_iou(out["box"][rows], labels.box[idx])}
    if labels.joints3d is not None:
        gt = labels.joints3d[idx] - labels.joints3d[idx][:, :1]
        pred = out["pose3d"][rows] - out["pose3d"][rows][:, :1]
        # 3D errors over the frames the model reported and the labels have (a teacher's frame with nobody is NaN)
        found = np.isfinite(pred).all(axis=(1, 2)) & np.isfinite(gt).all(axis=(1, 2))
        result |= {"mpjpe": mpjpe(pred[found], gt[found]), "p_mpjpe": p_mpjpe(pred[found], gt[found])}
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


MODES = ("model", "pipeline", "labeled-box")  # the model alone; the product's path; the model cropped on the labels


class ClipReader:
    """One exported model's outputs on labeled clips in each of :data:`MODES` (the run's square-view twin of the
    model loaded once, for upright sources, as ``tvstream run`` picks it)."""

    def __init__(self, model: str | Path, sharp: bool = False) -> None:
        self.model = Path(model)
        self.sharp = sharp  # the run's --sharp (tvstream.detector_view)
        self.backend = load_backend(model, "onnxruntime")
        self._twins: dict[Path, object] = {}

    def outputs(self, group: str, video: Path, labels: Path, mode: str) -> dict[str, np.ndarray]:
        """Per-frame outputs (source pixels) of ``video`` from clip group ``group`` (its name sets the run's
        scenario, :func:`scenario_of`)."""
        if mode == "pipeline":
            backend, finder = self.run_backends(video)
            return pipeline_outputs(backend, video, scenario_of(group), finder=finder)[0]
        return model_outputs(self.backend, video, labels=labels if mode == "labeled-box" else None)[0]

    def run_backends(self, video: Path):
        """``(backend, finder)`` as ``tvstream run`` opens them for ``video``: the model or its twin for the
        source, and the person finder of a landscape source (None where there is none)."""
        with VideoSource(str(video), self.backend.metadata.input_size) as source:
            twin = model_for_source(self.model, self.backend.metadata, source.fit, sharp=self.sharp)
            backend = self._backend(twin) if twin is not None else self.backend
            finder = finder_for(self.model, backend.metadata, source.fit)
        return backend, None if finder is None else self._backend(finder)

    def _backend(self, path: Path):
        """A twin's backend, loaded once."""
        if path not in self._twins:
            self._twins[path] = load_backend(path, "onnxruntime")
        return self._twins[path]


def bench_model(model: str, groups: dict[str, list[tuple[Path, Path]]], mode: str = "model",
                sharp: bool = False) -> dict:
    """Scores per group of clips, plus "bench (all)", in one of :data:`MODES`: the model alone, the product's
    path (``pipeline``), or the model cropped around every labeled box (``labeled-box``: the head's accuracy with
    a perfect detector; box IoU is then 1 by construction)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    reader = ClipReader(model, sharp)
    backend = reader.backend
    rows, everything = {}, []
    for name, clips in groups.items():
        outputs = (reader.outputs(name, v, lab, mode) for v, lab in clips)
        parts = [score_clip(out, lab) for out, (_, lab) in zip(outputs, clips)]
        rows[name] = summarise(parts)
        if name != "sample_ski":
            everything += parts
    if everything:
        rows["bench (all)"] = summarise(everything)
    return {"model": model, "mode": mode, "hash": backend.metadata.model_hash,
            "ms_per_frame": latency_ms(backend),
            "onnx_bytes": Path(model).stat().st_size, "groups": rows}
