"""MediaPipe Pose on one clip, fed by tvstream's own decoder; prints one JSON object on stdout.

Run by ``benchmarks/peer_mediapipe.py`` with the MediaPipe venv's python (MediaPipe pins an old protobuf,
so it cannot share tvstream's environment). Frames come from :class:`tvstream.sources.VideoSource`
(imported from this checkout; it needs only PyAV and numpy): the same decoding thread, queue and rgb24
conversion as ``tvstream run``, at source size because MediaPipe takes whole frames and finds the person
itself. ``--probe`` prints the versions and which pose models the wheel ships, without running anything.
``--landmarks OUT.npz`` writes every frame's 33 landmarks in source pixels instead of timing (accuracy runs,
``benchmarks/peer_accuracy.py``). The MediaPipe loop and model table are the product's teacher worker
(:mod:`tvstream.teacher.worker`, what ``tvstream label`` runs); only the timing lives here. Only numpy, PyAV,
MediaPipe and tvstream's torch-free modules are imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tvstream.sources import VideoSource  # noqa: E402  (after the path: this venv has no tvstream install)
from tvstream.teacher.worker import LANDMARK_MODELS, model_folder, pose_frames, source_size  # noqa: E402


def probe() -> dict:
    """Versions, and for each complexity whether its landmark model is inside the installed wheel."""
    import av
    import mediapipe as mp

    models = model_folder()
    return {"mediapipe": mp.__version__, "av": av.__version__, "numpy": np.__version__,
            "models": {str(c): (models / name).is_file() for c, name in LANDMARK_MODELS.items()}}


def peak_rss_mb() -> float:
    """This process's ``VmHWM``. Not ``ru_maxrss``: Linux carries the parent's high-water mark across fork
    and exec, so it would report the (larger) benchmark process that started this worker."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_once(uri: str, complexity: int, max_frames: int | None) -> dict:
    """One pass of MediaPipe Pose in video mode (tracking between frames, as for a stream) over ``uri``.

    Latency per frame is ``Pose.process`` plus reading out the 33 landmarks; fps covers the whole loop,
    decoding included (it overlaps in the source's thread, as in tvstream).
    """
    from mediapipe.python.solutions.pose import Pose

    size = source_size(uri)
    tic = time.perf_counter()
    pose = Pose(static_image_mode=False, model_complexity=complexity, enable_segmentation=False)
    init_s = time.perf_counter() - tic
    latencies, detected, n = [], 0, 0
    try:
        with VideoSource(uri, size) as src:
            cpu, tic = time.process_time(), time.perf_counter()
            for frame in src.frames():
                t0 = time.perf_counter()
                result = pose.process(np.ascontiguousarray(frame.image))
                if result.pose_landmarks is not None:
                    detected += 1
                    np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark])  # (33, 4)
                latencies.append(1000 * (time.perf_counter() - t0))
                n += 1
                if max_frames and n >= max_frames:
                    break
            seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    finally:
        pose.close()
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {"frames": n, "seconds": seconds, "cpu_seconds": cpu, "fps": round(n / seconds, 1) if seconds else 0.0,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "detected": detected, "init_s": round(init_s, 3), "width": size[1], "height": size[0]}


def landmarks(uri: str, complexity: int, max_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's 33 landmarks in video mode (tracking and smoothing on, as ``run_once``).

    Returns ``(frames (N,) int64 stream indices, landmarks (N, 33, 3) float32: x, y source px, visibility)``;
    a frame where MediaPipe found no person is all NaN.
    """
    frames, rows = [], []
    for index, marks, _world in pose_frames(uri, complexity, max_frames=max_frames):
        row = np.full((33, 3), np.nan, np.float32)
        if marks is not None:
            row[:] = marks[:, [0, 1, 3]]  # x, y source px, visibility
        frames.append(index)
        rows.append(row)
    return np.asarray(frames, np.int64), np.stack(rows) if rows else np.zeros((0, 33, 3), np.float32)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--complexity", type=int, choices=sorted(LANDMARK_MODELS), default=1)
    ap.add_argument("--frames", type=int, default=None, help="stop after N frames (default: the whole clip)")
    ap.add_argument("--repeats", type=int, default=1, help="passes, each with a fresh Pose (no carried tracking)")
    ap.add_argument("--probe", action="store_true", help="print versions and bundled models, then exit")
    ap.add_argument("--landmarks", type=Path, default=None, metavar="OUT.npz",
                    help="write every frame's landmarks (frames, landmarks (N, 33, 3): x, y px, visibility)")
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return
    if args.clip is None:
        ap.error("a clip is needed (or --probe)")
    if not probe()["models"][str(args.complexity)]:
        ap.error(f"{LANDMARK_MODELS[args.complexity]} is not in the installed wheel (MediaPipe would download it)")
    if args.landmarks is not None:
        tic = time.perf_counter()
        frames, marks = landmarks(args.clip, args.complexity, args.frames)
        np.savez_compressed(args.landmarks, frames=frames, landmarks=marks)
        found = int(np.isfinite(marks[:, 0, 0]).sum())
        print(json.dumps({"frames": len(frames), "found": found, "seconds": round(time.perf_counter() - tic, 2),
                          "complexity": args.complexity}))
        return
    runs = [run_once(args.clip, args.complexity, args.frames) for _ in range(args.repeats)]
    print(json.dumps({"runs": runs, "complexity": args.complexity, "rss_mb": round(peak_rss_mb(), 1),
                      "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
