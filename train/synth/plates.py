"""Background plates from the user's own images or videos (e.g. a venue's median background)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from tvstream.errors import SourceError
from tvstream.manifest import VIDEO_EXTENSIONS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _median_frame(path: Path, width: int, height: int, samples: int = 15) -> np.ndarray:
    """Per-pixel median of up to ``samples`` frames spread over a video: the empty venue."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        frames = [f.to_ndarray(width=width, height=height, format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise SourceError(f"{path}: no frames")
    pick = np.linspace(0, len(frames) - 1, min(samples, len(frames))).astype(int)
    return np.median(np.stack([frames[i] for i in pick]), axis=0).astype(np.uint8)


def load_plates(folder: str | os.PathLike, width: int, height: int) -> list[np.ndarray]:
    """Every image (as is) and video (median frame) in ``folder``, scaled to ``width x height`` RGB uint8."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such backgrounds folder")
    plates = []
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        try:
            if suffix in IMAGE_EXTENSIONS:
                with av.open(str(path)) as container:
                    frame = next(container.decode(video=0))
                    plates.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
            elif suffix in VIDEO_EXTENSIONS:
                plates.append(_median_frame(path, width, height))
        except (av.error.FFmpegError, StopIteration) as exc:
            raise SourceError(f"{path}: cannot read background plate ({exc})") from None
    if not plates:
        raise SourceError(f"{folder}: no images or videos to use as backgrounds")
    return plates
