"""Pictures of a run, drawn with Pillow only: loss curves, and reconstruction / appearance-swap grids."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from train.models.spatial import compose, paste
from train.models.ssl_model import SSLModel, SSLOutput
from train.ssl.box_eval import boxes_in_pixels
from tvstream.overlay import draw_box

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127)]


def plot_curves(metrics_jsonl: str | os.PathLike, out_png: str | os.PathLike, keys: tuple[str, ...] | None = None,
                size: tuple[int, int] = (900, 420)) -> Path:
    """Each numeric metric against ``step`` on a log scale (its own colour), from a run's ``metrics.jsonl``."""
    from PIL import Image, ImageDraw

    rows = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()]
    skip = {"step", "stage", "s_per_step"}
    keys = keys or tuple(dict.fromkeys(k for r in rows for k, v in r.items() if k not in skip
                                       and isinstance(v, (int, float))))
    w, h = size
    left, right, top, bottom = 60, 170, 20, 40
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    steps = [r["step"] for r in rows]
    x0, x1 = min(steps, default=0), max(steps, default=1)
    values = [abs(r[k]) for r in rows for k in keys if k in r and r[k] != 0]
    lo, hi = (np.log10(min(values)), np.log10(max(values))) if values else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1

    def xy(step: float, v: float) -> tuple[float, float]:
        fx = (step - x0) / max(x1 - x0, 1)
        fy = (np.log10(max(abs(v), 1e-12)) - lo) / (hi - lo)
        return left + fx * (w - left - right), h - bottom - fy * (h - top - bottom)

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for e in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        y = xy(x0, 10.0**e)[1]
        if top <= y <= h - bottom:
            draw.line([left, y, w - right, y], fill=(225, 225, 225))
            draw.text((5, y - 6), f"1e{e}", fill="black")
    draw.text((left, h - bottom + 8), f"step {x0}", fill="black")
    draw.text((w - right - 70, h - bottom + 8), f"step {x1}", fill="black")
    for i, k in enumerate(keys):
        color = _COLORS[i % len(_COLORS)]
        pts = [xy(r["step"], r[k]) for r in rows if k in r and r[k] != 0]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        draw.text((w - right + 10, top + 16 * i), k, fill=color)
    out_png = Path(out_png)
    img.save(out_png)
    return out_png


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (x.clamp(0, 1).permute(1, 2, 0).detach().cpu().numpy() * 255).astype(np.uint8)


@torch.no_grad()
def reconstruction_grid(model: SSLModel, out: SSLOutput, background: torch.Tensor | None,  # (B, S, 3, h, w)
                        out_png: str | os.PathLike, items: int = 4) -> Path:
    """Rows per item: frame with its box | crop | reconstruction | mask | decoded with the next item's appearance.

    The last column swaps appearance across items (pose from this row, ``ti`` from the next one): a
    disentangled model keeps this row's pose in the next row's clothes.
    """
    from PIL import Image

    was_training = model.training
    model.eval()  # decoding the swap must not touch batch-norm statistics (resume stays exact)
    n = min(items, out.tv.shape[0])
    h, w = model.cfg.detector_size
    rows = []
    for i in range(n):
        target = _to_uint8(out.target[i, 0])
        box = boxes_in_pixels(out.scale[i, :1], out.centre[i, :1], (h, w))[0]
        draw_box(target, box)
        tiles = [target, _resize(_to_uint8(out.crop[i, 0]), (h, w))]
        if out.recon is not None:
            tiles.append(_to_uint8(out.recon[i, 0]))
            tiles.append(_to_uint8(out.mask[i, 0].expand(3, -1, -1)))
            if out.ti is not None:
                j = (i + 1) % out.tv.shape[0]
                # outside the step's autocast: an AMP step's half-precision outputs go back to float32
                rgb, logit = model.decoder(out.tv[i, :1].float(), out.ti[j, :1].float())
                full, mask = paste(rgb, logit, out.scale[i, :1].float(), out.centre[i, :1].float(), (h, w))
                bg = (out.target[i, :1] if background is None else background[i, :1]).float()
                tiles.append(_to_uint8(compose(full, mask, bg)[0]))
        rows.append(np.concatenate(tiles, axis=1))
    model.train(was_training)
    out_png = Path(out_png)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out_png)
    return out_png


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.NEAREST))
