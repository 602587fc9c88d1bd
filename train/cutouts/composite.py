"""Clips of real cut-out people pasted over real background photos.

A clip is ``segments`` shots cut together; each shot is one cut-out over one background, drifting and zooming
a little for ``frames`` frames (the teacher tracks a person from frame to frame, so a shot is what it sees as
one person). The person is flipped, recoloured and feathered at the edge; the whole frame is blurred a little
and compressed at a random quality, as footage is. Every frame's box of the pasted person (from its alpha) and
its shot are written beside the clip (``<clip>.paste.json``): the labels the teacher gives are kept only where
they fall on that person.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from tvstream.json_documents import write_text_atomic
from tvstream.video_writer import VideoWriter


@dataclass(frozen=True)
class CompositeConfig:
    clips: int = 120
    segments: int = 4  # shots per clip, each another cut-out over another background
    frames: int = 6  # frames per shot
    width: int = 640
    height: int = 360
    fps: float = 25.0
    person: tuple[float, float] = (0.25, 0.92)  # the person's height, a share of the frame's
    cut_p: float = 0.2  # shots where the person stands partly outside the frame (feet below it, or a side)
    cut: float = 0.3  # at most this share of the person's height / width outside
    drift: float = 0.08  # how far the person moves over a shot (share of the frame's width)
    zoom: float = 0.12  # how much the person grows or shrinks over a shot
    flip_p: float = 0.5
    jitter: float = 0.25  # brightness, contrast and saturation of the person: x in [1 - jitter, 1 + jitter]
    feather: float = 0.8  # sigma (px of the pasted person) of the alpha edge's blur
    blur: tuple[float, float] = (0.0, 1.0)  # sigma of the whole frame's blur
    crf: tuple[int, int] = (18, 32)
    seed: int = 0


def read_cutout(path: Path) -> np.ndarray:
    """(H, W, 4) uint8 RGBA of a cut-out (a GIF's transparent colour becomes alpha 0), cropped to its alpha."""
    from PIL import Image

    with Image.open(path) as im:
        rgba = np.asarray(im.convert("RGBA"))
    ys, xs = np.nonzero(rgba[..., 3])
    return np.ascontiguousarray(rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def read_background(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def cover(image: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``image`` scaled to cover ``width x height`` (up to 1.5x more than it must)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.5)
    big = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))), interpolation=cv2.INTER_AREA
                     if scale < 1 else cv2.INTER_LINEAR)
    y = rng.integers(0, big.shape[0] - height + 1)
    x = rng.integers(0, big.shape[1] - width + 1)
    return big[y:y + height, x:x + width]


def recolour(rgb: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation of ``rgb`` (float 0..255) each scaled by a draw in 1 +- ``jitter``."""
    b, c, s = rng.uniform(1 - jitter, 1 + jitter, 3)
    grey = rgb.mean(-1, keepdims=True)
    out = grey + (rgb - grey) * s
    out = (out - out.mean()) * c + out.mean() * b
    return np.clip(out, 0, 255)


def paste(frame: np.ndarray, person: np.ndarray, x: float, y: float, height: float,
          feather: float) -> tuple[np.ndarray, list[float]]:
    """``person`` (RGBA, float colour) scaled to ``height`` px with its feet's centre at (``x``, ``y``) over
    ``frame``; returns the new frame and the person's box ``[x0, y0, x1, y1]`` (px, from its alpha)."""
    h, w = person.shape[:2]
    s = height / h
    pw, ph = max(1, round(w * s)), max(1, round(h * s))
    big = cv2.resize(person, (pw, ph), interpolation=cv2.INTER_LINEAR)
    alpha = (big[..., 3] / 255.0).astype(np.float32)
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather * max(s, 1.0))
    x0, y0 = round(x - pw / 2), round(y - ph)
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + pw, frame.shape[1]), min(y0 + ph, frame.shape[0])
    out = frame.astype(np.float32)
    if fx1 > fx0 and fy1 > fy0:
        a = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0, None]
        out[fy0:fy1, fx0:fx1] = a * big[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0, :3] + (1 - a) * out[fy0:fy1, fx0:fx1]
    ys, xs = np.nonzero(big[..., 3] > 127)
    box = [float(np.clip(x0 + xs.min(), 0, frame.shape[1])), float(np.clip(y0 + ys.min(), 0, frame.shape[0])),
           float(np.clip(x0 + xs.max() + 1, 0, frame.shape[1])), float(np.clip(y0 + ys.max() + 1, 0, frame.shape[0]))]
    return out, box


def shot(person: np.ndarray, background: np.ndarray, cfg: CompositeConfig,
         rng: np.random.Generator) -> tuple[list[np.ndarray], list[list[float]]]:
    """The frames of one shot and the person's box in each."""
    W, H = cfg.width, cfg.height
    if rng.random() < cfg.flip_p:
        person = person[:, ::-1]
    person = np.concatenate([recolour(person[..., :3].astype(np.float32), cfg.jitter, rng),
                             person[..., 3:].astype(np.float32)], -1)
    plate = cover(background, W, H, rng)
    h0 = rng.uniform(*cfg.person) * H
    h1 = min(h0 * rng.uniform(1 - cfg.zoom, 1 + cfg.zoom), H)
    aspect = person.shape[1] / person.shape[0]
    half = max(h0, h1) * aspect / 2
    lo, hi = half, max(half, W - half)  # the feet's centre x with the whole person inside
    xa, ya = rng.uniform(lo, hi), rng.uniform(min(max(h0, h1), H), H)
    if rng.random() < cfg.cut_p:  # partly outside: feet below the bottom edge, or beyond a side
        if rng.random() < 0.5:
            ya = H + rng.uniform(0.05, cfg.cut) * min(h0, h1)
        else:
            out = rng.uniform(0.1, cfg.cut) * 2 * half
            lo, hi = half - out, W - half + out
            xa = lo if rng.random() < 0.5 else hi
    xb = float(np.clip(xa + rng.uniform(-cfg.drift, cfg.drift) * W, lo, hi))
    sigma = rng.uniform(*cfg.blur)
    frames, boxes = [], []
    for t in np.linspace(0, 1, cfg.frames):
        img, box = paste(plate, person, xa + (xb - xa) * t, ya, h0 + (h1 - h0) * t, cfg.feather)
        if sigma > 0.05:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        boxes.append(box)
    return frames, boxes


def make_clip(path: Path, cutouts: list[Path], backgrounds: list[Path], cfg: CompositeConfig,
              rng: np.random.Generator) -> dict:
    """One clip of ``cfg.segments`` shots at ``path`` (H.264) and its sidecar ``<path>.paste.json``."""
    shots, boxes = [], []
    with VideoWriter(path, cfg.width, cfg.height, cfg.fps, crf=int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))) as out:
        for i in range(cfg.segments):
            cut, back = cutouts[rng.integers(len(cutouts))], backgrounds[rng.integers(len(backgrounds))]
            frames, shot_boxes = shot(read_cutout(cut), read_background(back), cfg, rng)
            for frame in frames:
                out.write(frame)
            shots.append({"cutout": cut.stem, "background": back.name, "start": i * cfg.frames})
            boxes += shot_boxes
    doc = {"shots": shots, "boxes": [[round(v, 1) for v in b] for b in boxes], "config": asdict(cfg)}
    write_text_atomic(sidecar(path), json.dumps(doc) + "\n")
    return doc


def sidecar(clip: Path) -> Path:
    return clip.with_name(clip.stem + ".paste.json")


def made_with(clip: Path, cfg: CompositeConfig) -> bool:
    """Whether ``clip`` exists and was made with ``cfg`` (its clip count aside: asking for more clips keeps the
    ones made), so a build goes on after a stop and makes again what another config would make otherwise."""
    if not (clip.is_file() and sidecar(clip).is_file()):
        return False
    try:
        made = json.loads(sidecar(clip).read_text())["config"]
    except (json.JSONDecodeError, KeyError):
        return False
    want = json.loads(json.dumps(asdict(cfg)))  # tuples as the sidecar's lists
    return {k: v for k, v in made.items() if k != "clips"} == {k: v for k, v in want.items() if k != "clips"}
