"""The teacher worker: MediaPipe Pose over one clip, one JSON line per frame on stdout.

Runs under the teacher venv's python (``tvstream teacher install``), never inside tvstream's own process:
MediaPipe pins numpy and protobuf versions that must not meet the project's. It imports only numpy, PyAV,
MediaPipe and :mod:`tvstream.sources` (found by appending this checkout or install to ``sys.path``, after
the venv's own packages, so the venv's numpy wins), and decodes with :class:`tvstream.sources.VideoSource`
as ``tvstream run`` does, at source size (MediaPipe takes whole frames and finds the person itself).

Protocol (what a fake teacher in the tests imitates):

- ``worker.py --probe``: one line ``{"mediapipe": version, "models": {file: sha256 or null}}``.
- ``worker.py CLIP --complexity C [--start S] [--every N] [--frames M]``: a header line
  ``{"type": "header", "width", "height", "num_frames"}``, then per processed frame (stream index ``i`` with
  ``i >= S`` and ``i % N == 0``) ``{"type": "frame", "frame": i, "landmarks": [[x px, y px, z, visibility]
  x 33] or null, "world": [[x m, y m, z m, visibility] x 33] or null}`` (null: nobody found), flushed as it
  goes, so a crash mid-clip leaves the frames done; last ``{"type": "end", "frames": count}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[2]))  # after the venv's packages: its numpy wins
from tvstream.sources import VideoSource  # noqa: E402

# model_complexity -> the landmark model file the legacy solution loads
LANDMARK_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def model_folder() -> Path:
    """Where the installed MediaPipe keeps its pose landmark models."""
    import mediapipe as mp

    return Path(mp.__file__).parent / "modules" / "pose_landmark"


def probe() -> dict:
    """MediaPipe's version and the sha256 of each landmark model present (null: absent)."""
    import mediapipe as mp

    folder = model_folder()
    models = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else None
              for name in LANDMARK_MODELS.values()}
    return {"mediapipe": mp.__version__, "models": models}


def source_size(uri: str) -> tuple[int, int]:
    """The clip's upright ``(H, W)``: opening a source reads its first frame, nothing more."""
    src = VideoSource(uri, (2, 2))
    try:
        return src.height, src.width
    finally:
        src.close()


def pose_frames(uri: str, complexity: int, start: int = 0, every: int = 1,
                max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None]]:
    """MediaPipe Pose in video mode (tracking and smoothing on) over the clip's frames ``i >= start``,
    ``i % every == 0``.

    Yields ``(stream index, landmarks (33, 4) x px, y px, z, visibility or None, world (33, 4) metres + visibility
    or None)``; None where MediaPipe found nobody. Stops after ``max_frames`` processed frames.
    """
    from mediapipe.python.solutions.pose import Pose

    height, width = size = source_size(uri)
    pose = Pose(static_image_mode=False, model_complexity=complexity, enable_segmentation=False)
    done = 0
    try:
        with VideoSource(uri, size) as src:
            for frame in src.frames():
                if frame.index < start or frame.index % every:
                    continue
                result = pose.process(np.ascontiguousarray(frame.image))
                marks = world = None
                if result.pose_landmarks is not None:
                    # MediaPipe's x, y are normalised to the image it was given (here: the upright source)
                    marks = np.array([(p.x * width, p.y * height, p.z, p.visibility)
                                      for p in result.pose_landmarks.landmark], np.float32)  # (33, 4)
                if result.pose_world_landmarks is not None:
                    world = np.array([(p.x, p.y, p.z, p.visibility)
                                      for p in result.pose_world_landmarks.landmark], np.float32)  # (33, 4)
                yield frame.index, marks, world
                done += 1
                if max_frames and done >= max_frames:
                    break
    finally:
        pose.close()


def _rows(a: np.ndarray | None) -> list | None:
    return None if a is None else [[round(float(v), 5) for v in row] for row in a]


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--complexity", type=int, choices=sorted(LANDMARK_MODELS), default=2)
    ap.add_argument("--start", type=int, default=0, help="first stream index to process")
    ap.add_argument("--every", type=int, default=1, help="process stream indices divisible by N")
    ap.add_argument("--frames", type=int, default=None, help="stop after N processed frames")
    ap.add_argument("--probe", action="store_true", help="print versions and model hashes, then exit")
    args = ap.parse_args(argv)
    if args.probe:
        _emit(probe())
        return
    if args.clip is None:
        ap.error("a clip is needed (or --probe)")
    if not (model_folder() / LANDMARK_MODELS[args.complexity]).is_file():
        ap.error(f"{LANDMARK_MODELS[args.complexity]} is not installed (MediaPipe would download it)")
    src = VideoSource(args.clip, (2, 2))
    try:
        _emit({"type": "header", "width": src.width, "height": src.height, "num_frames": src.num_frames})
    finally:
        src.close()
    count = 0
    for index, marks, world in pose_frames(args.clip, args.complexity, args.start, args.every, args.frames):
        _emit({"type": "frame", "frame": index, "landmarks": _rows(marks), "world": _rows(world)})
        count += 1
    _emit({"type": "end", "frames": count})


if __name__ == "__main__":
    main()
