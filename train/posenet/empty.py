"""Crops with nobody in them: the negatives that teach the pose head's confidence what "no person" looks like.

Trained on crops around people only, the confidence has never seen an empty crop, and on one (a blank grey
frame, a wall, the sky after the athlete has left) it answered about 0.25 for every joint: enough for
``detected``. Each batch gets a few person-free crops whose every joint's confidence is taught 0:

* procedural fills: a flat colour with a linear ramp and sensor noise (blank walls, sky, a lens cap);
* when a folder of person-free photos is given (the real-photo plates, ``train.synth.plates``), a random square of
  one of them at a random scale (real texture: snow, water, a crowd-free stand).

Drawn from the run's augmentation generator, so a resumed run draws the same crops.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SIDE = (0.15, 1.0)  # the square's side, a fraction of the photo's shorter side


@lru_cache(maxsize=2)
def load_photos(folder: str) -> tuple[torch.Tensor, ...]:
    """Every photo of ``folder`` (sorted names) as a (3, H, W) uint8 tensor."""
    from PIL import Image

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{folder}: no person-free photos ({', '.join(PHOTO_SUFFIXES)}) for empty crops")
    photos = []
    for p in paths:
        with Image.open(p) as im:
            photos.append(torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous())
    return tuple(photos)


def fills(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) [0, 1] flat colours with a linear ramp in a random direction and noise."""
    colour = torch.rand(n, 3, 1, 1, generator=g)
    angle = torch.rand(n, generator=g) * 2 * torch.pi
    ramp = (torch.rand(n, generator=g) * 0.6 - 0.3).view(n, 1, 1, 1)  # the ramp's full swing across the crop
    t = torch.linspace(-0.5, 0.5, size)
    along = torch.cos(angle).view(n, 1, 1) * t.view(1, 1, size) + torch.sin(angle).view(n, 1, 1) * t.view(1, size, 1)
    noise = torch.randn(n, 3, size, size, generator=g) * (torch.rand(n, 1, 1, 1, generator=g) * 0.05)
    return (colour + ramp * along[:, None] + noise).clamp(0, 1)


def photo_squares(photos: tuple[torch.Tensor, ...], n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) [0, 1] random squares of random ``photos``, resized (antialiased) to ``size``."""
    out = torch.empty(n, 3, size, size)
    picks = torch.randint(len(photos), (n,), generator=g)
    for i, k in enumerate(picks.tolist()):
        photo = photos[k]
        h, w = photo.shape[1:]
        frac = float(torch.empty(1).uniform_(*SIDE, generator=g))
        side = max(8, int(round(frac * min(h, w))))
        y = int(torch.randint(h - side + 1, (1,), generator=g))
        x = int(torch.randint(w - side + 1, (1,), generator=g))
        square = photo[None, :, y:y + side, x:x + side].float() / 255
        out[i] = F.interpolate(square, size=(size, size), mode="bilinear", antialias=side > size,
                               align_corners=False)[0]
    return out


def empty_crops(n: int, size: int, g: torch.Generator, folder: str | None = None) -> torch.Tensor:
    """(n, 3, size, size) [0, 1] person-free crops: half photo squares when ``folder`` is given, the rest fills."""
    if n == 0:
        return torch.empty(0, 3, size, size)
    n_photos = n // 2 if folder else 0
    parts = [fills(n - n_photos, size, g)]
    if n_photos:
        parts.append(photo_squares(load_photos(str(folder)), n_photos, size, g))
    return torch.cat(parts)
