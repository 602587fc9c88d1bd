"""An overlay strip: chosen frames of ``tvstream run --render`` tiled into one JPEG, to look at a model's poses.

Run: ``python -m benchmarks.overlay_strip CLIP OUT.jpg [--model M.onnx] [--frames 10,40,70,95] [--cols 4]``.
The overlay is the product's own (``tvstream run ... --render``: box, 2D skeleton with low-confidence joints
faded, 3D inset); frames are read back with PyAV and tiled at half size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np


def read_frames(video: Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames at ``indices`` (those past the end are left out)."""
    wanted, out = set(indices), {}
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= max(indices):
                break
    return [out[i] for i in indices if i in out]


def tile(frames: list[np.ndarray], cols: int, scale: float = 0.5) -> np.ndarray:
    """Frames of one size -> a grid image, each frame resized by ``scale``."""
    import cv2

    small = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in frames]
    h, w = small[0].shape[:2]
    rows = -(-len(small) // cols)
    grid = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, img in enumerate(small):
        r, c = divmod(k, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


def main(argv: list[str] | None = None) -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--frames", default="10,40,70,95,120,150,180,210")
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--scenario", default="studio")
    args = ap.parse_args(argv)
    indices = [int(v) for v in args.frames.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "overlay.mp4"
        cmd = [sys.executable, "-m", "tvstream", "--quiet", "run", str(args.clip), "--out", str(Path(tmp) / "p.jsonl"),
               "--render", str(overlay), "--scenario", args.scenario]
        if args.model:
            cmd += ["--model", args.model]
        subprocess.run(cmd, check=True)
        frames = read_frames(overlay, indices)
    cv2.imwrite(str(args.out), tile(frames, args.cols)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{args.out}: {len(frames)} frames")


if __name__ == "__main__":
    main()
