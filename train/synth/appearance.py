"""How a synthetic athlete looks: skin tone, clothing colours and patterns, hair or helmet.

Colours are painted per vertex through the body regions of ``body.py`` (from the skinning weights):
a top over torso and arms, trousers over the legs and the lower torso, shoes on the feet, hair on the
back and top of the head. Outfits depend on the scenario (studio: shirt and trousers; dive: swimwear;
ski: ski suit and helmet). Patterns (stripes, two-tone) come from vertex positions in the rest pose;
fabrics are patches cut from real photographs, wrapped around the body (``draw_fabrics``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.synth.body import REGIONS

SKIN_TONES = np.array([[0.95, 0.80, 0.69], [0.87, 0.67, 0.53], [0.76, 0.57, 0.42], [0.58, 0.40, 0.28],
                       [0.42, 0.28, 0.19], [0.30, 0.20, 0.14]])
HAIR = np.array([[0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.55, 0.40, 0.22], [0.80, 0.70, 0.45], [0.5, 0.5, 0.5]])
OUTFITS = ("casual", "swimwear", "skisuit")


@dataclass(frozen=True)
class Appearance:
    """The colours of one subject (all in [0, 1])."""

    skin: tuple[float, float, float]
    top: tuple[float, float, float]
    bottom: tuple[float, float, float]
    shoes: tuple[float, float, float]
    hair: tuple[float, float, float]
    accent: tuple[float, float, float]
    pattern: str  # "plain", "stripes", "twotone"
    outfit: str

    @staticmethod
    def sample(rng: np.random.Generator, outfit: str = "casual") -> Appearance:
        if outfit not in OUTFITS:
            raise ValueError(f"outfit must be one of {OUTFITS}, got {outfit!r}")

        def colour() -> tuple[float, float, float]:
            return tuple(float(c) for c in rng.uniform(0.05, 0.95, 3))

        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.95, 1.05)
        return Appearance(skin=tuple(np.clip(skin, 0, 1)), top=colour(), bottom=colour(), shoes=colour(),
                          hair=tuple(HAIR[rng.integers(len(HAIR))]), accent=colour(),
                          pattern=str(rng.choice(["plain", "stripes", "twotone"])), outfit=outfit)


FABRIC_SHARE = 0.5  # of garments printed with a photo patch when photos are given
FABRIC_PIXELS = 32  # a patch's side, in pixels of the photo
FABRIC_METRES = 0.5  # what a patch's side covers on the body


def draw_fabrics(rng: np.random.Generator, photos: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Patches ``(FABRIC_PIXELS, FABRIC_PIXELS, 3)`` in [0, 1] for some of the garments ("top", "bottom"),
    cut from random places of random ``photos`` (uint8 RGB); none without photos."""
    fabrics = {}
    for garment in ("top", "bottom"):
        if not photos or rng.random() >= FABRIC_SHARE:
            continue
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        y, x = rng.integers(h - FABRIC_PIXELS + 1), rng.integers(w - FABRIC_PIXELS + 1)
        patch = photo[y:y + FABRIC_PIXELS, x:x + FABRIC_PIXELS].astype(float) / 255
        fabrics[garment] = np.clip(patch * rng.uniform(0.7, 1.2), 0, 1)
    return fabrics


def _wrap(patch: np.ndarray, rest_vertices: np.ndarray) -> np.ndarray:
    """``patch`` sampled at each vertex: wrapped around the body's vertical axis (a cylinder), repeated."""
    x, y, z = rest_vertices.T
    around = (np.arctan2(x, -y) + np.pi) * 0.15  # metres along a 0.95 m girth
    n = len(patch)
    col = np.floor(around / FABRIC_METRES * n).astype(int) % n
    row = np.floor(-z / FABRIC_METRES * n).astype(int) % n
    return patch[row, col]


def paint(appearance: Appearance, rest_vertices: np.ndarray, regions: np.ndarray, head_top: np.ndarray,
          fabrics: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per-vertex colours ``(V, 3)`` of a body in its rest pose (``rest_vertices (V, 3)``, z up, facing -y);
    ``fabrics`` ("top", "bottom": photo patches from :func:`draw_fabrics`) print over the garment's colour."""
    a = appearance
    z = rest_vertices[:, 2]
    region = np.asarray(REGIONS)[regions]
    colors = np.tile(np.asarray(a.skin, float), (len(z), 1))
    waist = np.percentile(z[region == "torso"], 35)
    torso, arms, legs, feet = region == "torso", region == "arms", region == "legs", region == "feet"
    lower = torso & (z < waist)
    head = region == "head"
    if a.outfit == "swimwear":
        colors[lower] = a.bottom  # trunks / lower swimsuit only
        if a.pattern != "plain":
            colors[torso & ~lower] = a.top  # a one-piece
    else:
        top = (torso & ~lower) | arms
        if a.outfit == "casual":  # short sleeves: forearms stay skin
            elbow_z = np.percentile(z[arms], 45)
            top &= ~(arms & (z < elbow_z))
        colors[top] = a.top
        colors[legs | lower] = a.bottom
        colors[feet] = a.shoes
        if a.pattern == "stripes":
            stripe = (np.floor(z / 0.06) % 2 == 0) & top
            colors[stripe] = a.accent
        elif a.pattern == "twotone":
            colors[top & (rest_vertices[:, 0] > 0)] = a.accent
    fabrics = fabrics or {}
    garments = {"top": torso & ~lower if a.outfit == "swimwear" else (torso & ~lower) | arms,
                "bottom": lower if a.outfit == "swimwear" else legs | lower}
    for garment, patch in fabrics.items():
        where = garments[garment] & (colors != np.asarray(a.skin, float)).any(axis=1)  # cloth, not skin
        colors[where] = 0.8 * _wrap(patch, rest_vertices[where]) + 0.2 * colors[where]
    # hair (or a helmet for skiing): the top and back of the head
    cap = head & ((z > head_top[2] - 0.09) | ((rest_vertices[:, 1] > head_top[1] + 0.03) & (z > head_top[2] - 0.2)))
    colors[cap] = a.accent if a.outfit == "skisuit" else a.hair
    return colors
