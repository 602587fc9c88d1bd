"""Pattern videos whose content is known exactly: for tests and benchmarks of decoding and sampling.

Each frame shows its own index as a row of black/white blocks (a binary code that survives H.264 and
rescaling) and a white square moving on a known path; the background grey level names the camera.
:func:`read_frame_code` reads the index back from a decoded frame at any size, so a test can prove
*which* frame a reader returned, not only how many.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from tvstream.labels import CameraParams, VideoLabels
from tvstream.skeleton import NUM_JOINTS

CODE_BITS = 10  # frame indices up to 1023
_CODE_ROW = (0.02, 0.14)  # vertical extent of the code row, as fractions of the height
SQUARE = 0.15  # side of the moving square, as a fraction of the height


def background_level(camera: int) -> int:
    """Grey level of the background of ``camera`` (distinct per camera up to 4)."""
    return 40 + 40 * (camera % 4)


def square_box(frame: int, width: int, height: int) -> np.ndarray:
    """``[x0, y0, x1, y1]`` in pixels of the moving square in ``frame`` (a circle, period 64 frames)."""
    side = SQUARE * height
    phase = 2 * np.pi * frame / 64
    cx = width * (0.5 + 0.3 * np.cos(phase))
    cy = height * (0.6 + 0.2 * np.sin(phase))
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dtype=np.float32)


def render_pattern_frame(frame: int, width: int, height: int, camera: int = 0) -> np.ndarray:
    """The RGB uint8 ``(H, W, 3)`` image of ``frame``: code row, moving square, camera background."""
    if not 0 <= frame < 2**CODE_BITS:
        raise ValueError(f"frame {frame} does not fit in {CODE_BITS} bits")
    img = np.full((height, width, 3), background_level(camera), dtype=np.uint8)
    y0, y1 = int(_CODE_ROW[0] * height), int(_CODE_ROW[1] * height)
    for bit in range(CODE_BITS):
        x0, x1 = int(bit * width / CODE_BITS), int((bit + 1) * width / CODE_BITS)
        img[y0:y1, x0:x1] = 255 if (frame >> bit) & 1 else 0
    bx0, by0, bx1, by1 = np.round(square_box(frame, width, height)).astype(int)
    img[by0:by1, bx0:bx1] = 255
    return img


def read_frame_code(img: np.ndarray) -> int:
    """The frame index written into a decoded frame ``(H, W, 3)`` of any size."""
    h, w = img.shape[:2]
    y = int(np.mean(_CODE_ROW) * h)
    value = 0
    for bit in range(CODE_BITS):
        x = int((bit + 0.5) * w / CODE_BITS)
        if img[y, x].mean() > 127:
            value |= 1 << bit
    return value


def write_pattern_video(
    path: str | os.PathLike,
    num_frames: int,
    width: int = 160,
    height: int = 120,
    fps: int = 25,
    camera: int = 0,
    codec: str = "libx264",
    gop: int = 12,
) -> Path:
    """Encode ``num_frames`` pattern frames to ``path`` (H.264 in MP4 by default, B-frames on)."""
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"crf": "12", "preset": "veryfast"}
        for t in range(num_frames):
            frame = av.VideoFrame.from_ndarray(render_pattern_frame(t, width, height, camera), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def pattern_labels(num_frames: int, width: int = 160, height: int = 120, camera: int = 0,
                   frames: np.ndarray | None = None, sequence: str = "pattern") -> VideoLabels:
    """Labels that match a pattern video: 17 joints on a grid inside the moving square.

    ``joints2d`` lies in the square, ``box`` is the square, ``joints3d`` is the 2D grid back-projected
    to a depth of 3 m through ``K`` (so projecting it gives ``joints2d`` back).
    """
    frames = np.arange(num_frames, dtype=np.int64) if frames is None else np.asarray(frames, np.int64)
    boxes = np.stack([square_box(int(f), width, height) for f in frames])  # (N, 4)
    grid = np.stack(np.meshgrid(np.linspace(0.1, 0.9, 5), np.linspace(0.1, 0.9, 4)), -1).reshape(-1, 2)
    grid = grid[:NUM_JOINTS]  # (K, 2) fractions of the box
    joints2d = boxes[:, None, :2] + grid[None] * (boxes[:, None, 2:] - boxes[:, None, :2])  # (N, K, 2)
    focal = 1.2 * width
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float32)
    depth = 3000.0
    joints3d = np.concatenate([(joints2d - K[:2, 2]) / focal * depth,
                               np.full((*joints2d.shape[:2], 1), depth)], axis=-1)  # (N, K, 3) mm
    return VideoLabels(
        frames=frames, joints3d=joints3d.astype(np.float32), joints2d=joints2d.astype(np.float32),
        box=boxes, visible=np.ones(joints2d.shape[:2], bool),
        camera=CameraParams(K=K, R=np.eye(3, dtype=np.float32), t=np.zeros(3, np.float32)),
        subject="pattern", sequence=sequence, camera_id=str(camera),
    )
