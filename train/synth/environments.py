"""Procedural venues as static meshes: a studio room, a diving hall with a 10 m platform, a ski slope.

Each is a handful of textured boxes and planes with procedural textures (value noise, tiles, stripes),
random but fixed for a seed. World frame: metres, z up; the athlete's area is around the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MeshData:
    """A static triangle mesh: ``vertices (V, 3)``, ``faces (F, 3)``, ``colors (V, 3)`` in [0, 1], ``uvs (V, 2)``."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    uvs: np.ndarray
    texture: np.ndarray | None = None  # (h, w, 3) uint8, repeated over the uvs


@dataclass
class Environment:
    """The static part of a scene, and the clear colour (sky / far wall) behind it."""

    meshes: list[MeshData] = field(default_factory=list)
    sky: tuple[float, float, float] = (0.6, 0.6, 0.6)


# ------------------------------------------------------------------------------------ textures


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 3) -> np.ndarray:
    """Smooth noise in [0, 1], ``(size, size)``, tileable, from ``octaves`` bilinearly upsampled grids."""
    out = np.zeros((size, size))
    for o in range(octaves):
        n = cells * 2**o
        grid = rng.random((n, n))
        coords = np.arange(size) * n / size
        i0 = np.floor(coords).astype(int)
        frac = coords - i0
        i1 = (i0 + 1) % n
        rows = grid[i0] * (1 - frac)[:, None] + grid[i1] * frac[:, None]  # (size, n)
        layer = rows[:, i0] * (1 - frac)[None] + rows[:, i1] * frac[None]  # (size, size)
        out += layer / 2**o
    return (out - out.min()) / max(np.ptp(out), 1e-9)


def noise_texture(rng: np.random.Generator, base: np.ndarray, spread: float, size: int = 128,
                  cells: int = 4) -> np.ndarray:
    """A colour ``base`` (3,) in [0, 1] modulated by noise of relative amplitude ``spread``; uint8 (size, size, 3)."""
    n = value_noise(rng, size, cells)[..., None]
    tex = np.clip(np.asarray(base) * (1 - spread / 2 + spread * n), 0, 1)
    return (tex * 255).astype(np.uint8)


def tile_texture(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, tiles: int = 4, size: int = 128) -> np.ndarray:
    """A checkerboard of colours ``a`` and ``b`` with grout lines and a little noise; uint8 (size, size, 3)."""
    idx = (np.arange(size) * tiles // size)
    checker = (idx[:, None] + idx[None, :]) % 2
    tex = np.where(checker[..., None] == 1, np.asarray(a), np.asarray(b))
    edge = (np.arange(size) % (size // tiles)) < 2
    tex[edge] *= 0.6
    tex[:, edge] *= 0.6
    tex *= 0.9 + 0.2 * value_noise(rng, size, 8)[..., None]
    return (np.clip(tex, 0, 1) * 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ geometry


def quad(corners: np.ndarray, color, uv_repeat: tuple[float, float] = (1, 1), texture=None) -> MeshData:
    """A rectangle from four corners (3D, in order around it), two triangles."""
    corners = np.asarray(corners, float)
    uvs = np.array([[0, 0], [uv_repeat[0], 0], [uv_repeat[0], uv_repeat[1]], [0, uv_repeat[1]]], float)
    return MeshData(vertices=corners, faces=np.array([[0, 1, 2], [0, 2, 3]]),
                    colors=np.tile(np.asarray(color, float), (4, 1)), uvs=uvs, texture=texture)


def box(center, size, color, texture=None, uv_scale: float = 1.0) -> MeshData:
    """An axis-aligned box (6 quads with their own vertices, so each face is lit flat)."""
    c, s = np.asarray(center, float), np.asarray(size, float) / 2
    faces_v = []
    for axis in range(3):
        for sign in (-1, 1):
            u, v = [a for a in range(3) if a != axis]
            pts = []
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = c.copy()
                p[axis] += sign * s[axis]
                p[u] += du * s[u]
                p[v] += dv * s[v]
                pts.append(p)
            faces_v.append(quad(pts, color, (2 * s[u] * uv_scale, 2 * s[v] * uv_scale), texture))
    return merge(faces_v)


def merge(meshes: list[MeshData]) -> MeshData:
    """One mesh from several sharing a texture (the first one's)."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return MeshData(
        vertices=np.concatenate([m.vertices for m in meshes]),
        faces=np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]),
        colors=np.concatenate([m.colors for m in meshes]),
        uvs=np.concatenate([m.uvs for m in meshes]),
        texture=meshes[0].texture,
    )


def cone(base_center, radius: float, height: float, color, segments: int = 10) -> MeshData:
    """A cone (a tree, a marker) standing on ``base_center``."""
    base_center = np.asarray(base_center, float)
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = base_center + np.stack([radius * np.cos(a), radius * np.sin(a), np.zeros(segments)], 1)
    tip = base_center + [0, 0, height]
    verts = np.vstack([ring, tip])
    faces = np.array([[i, (i + 1) % segments, segments] for i in range(segments)])
    return MeshData(verts, faces, np.tile(np.asarray(color, float), (len(verts), 1)), np.zeros((len(verts), 2)))


# ------------------------------------------------------------------------------------ venues


def studio_room(rng: np.random.Generator, half: float = 6.0, height: float = 4.0) -> Environment:
    """A room ``2*half`` metres wide: tiled or plain floor, four noisy walls of one random colour."""
    floor_a, floor_b = rng.uniform(0.3, 0.8, 3), rng.uniform(0.3, 0.8, 3)
    floor_tex = tile_texture(rng, floor_a, floor_b, tiles=int(rng.integers(2, 6)))
    wall_tex = noise_texture(rng, rng.uniform(0.35, 0.9, 3), spread=0.35)
    h = half
    floor = quad([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]], (1, 1, 1), (h / 2, h / 2), floor_tex)
    walls = merge([
        quad([[-h, y, 0], [h, y, 0], [h, y, height], [-h, y, height]], (1, 1, 1), (2 * h / 3, height / 3), wall_tex)
        for y in (-h, h)
    ] + [
        quad([[x, -h, 0], [x, h, 0], [x, h, height], [x, -h, height]], (1, 1, 1), (2 * h / 3, height / 3), wall_tex)
        for x in (-h, h)
    ])
    return Environment([floor, walls], sky=(0.8, 0.8, 0.8))


PLATFORM_HEIGHT = 10.0  # m, the Olympic high-diving platform
POOL_EDGE_Y = 1.0  # the platform's front edge is at y = 0; the water starts before it


def pool_hall(rng: np.random.Generator) -> Environment:
    """A diving hall: water at z = 0, a 10 m concrete tower whose front edge is at y = 0, a back wall."""
    water_tex = noise_texture(rng, np.array([0.15, 0.45, 0.7]) * rng.uniform(0.8, 1.2), spread=0.5, cells=6)
    concrete = noise_texture(rng, np.full(3, rng.uniform(0.55, 0.8)), spread=0.25)
    wall_tex = tile_texture(rng, rng.uniform(0.5, 0.9, 3), rng.uniform(0.5, 0.9, 3), tiles=8)
    water = quad([[-25, -20, 0], [25, -20, 0], [25, 20, 0], [-25, 20, 0]], (1, 1, 1), (12, 10), water_tex)
    tower = box([0, 1.5, PLATFORM_HEIGHT / 2], [3.0, 3.0, PLATFORM_HEIGHT], (1, 1, 1), concrete, uv_scale=0.5)
    back = quad([[-25, 8, 0], [25, 8, 0], [25, 8, 25], [-25, 8, 25]], (1, 1, 1), (12, 6), wall_tex)
    return Environment([water, tower, back], sky=(0.75, 0.8, 0.85))


SLOPE_DEG = 15.0


def slope_height(y: np.ndarray | float) -> np.ndarray | float:
    """Ground height of the ski slope at ``y`` (the skier goes down towards +y)."""
    return -np.tan(np.radians(SLOPE_DEG)) * np.asarray(y)


def ski_slope(rng: np.random.Generator, length: float = 120.0, width: float = 60.0) -> Environment:
    """A snow slope falling towards +y with noise, trees along the sides and coloured gates."""
    snow = noise_texture(rng, np.array([0.92, 0.94, 0.98]), spread=0.18, cells=8)
    ys = np.array([-length / 2, length / 2])
    ground = quad([[-width / 2, ys[0], slope_height(ys[0])], [width / 2, ys[0], slope_height(ys[0])],
                   [width / 2, ys[1], slope_height(ys[1])], [-width / 2, ys[1], slope_height(ys[1])]],
                  (1, 1, 1), (width / 4, length / 4), snow)
    props = []
    for _ in range(60):  # trees on the far side only: the camera stands on the -x side (scenarios.py)
        y = rng.uniform(*ys)
        x = rng.uniform(8, width / 2)
        props.append(cone([x, y, slope_height(y)], rng.uniform(0.8, 1.5), rng.uniform(3, 6),
                          rng.uniform([0.05, 0.2, 0.05], [0.15, 0.4, 0.15])))
    for i, y in enumerate(np.arange(ys[0], ys[1], 12.0)):
        color = (0.85, 0.1, 0.1) if i % 2 else (0.1, 0.2, 0.85)
        x = rng.uniform(-6, 6)
        props.append(box([x, y, slope_height(y) + 0.9], [0.08, 0.08, 1.8], color))
    trees = merge(props)
    trees.texture = None
    return Environment([ground, trees], sky=tuple(rng.uniform([0.5, 0.65, 0.85], [0.7, 0.8, 0.95])))


def open_ground(rng: np.random.Generator, half: float = 120.0) -> Environment:
    """Open ground (a field, a square, a beach) ``2*half`` metres wide, with blocks of buildings far off.

    Open so that cameras from 1 m to tens of metres away, from low to high, see the athlete without walls.
    """
    kind = rng.integers(3)
    base = [rng.uniform([0.2, 0.35, 0.1], [0.4, 0.6, 0.25]),  # grass
            np.full(3, rng.uniform(0.3, 0.6)),  # asphalt, concrete
            rng.uniform([0.65, 0.55, 0.4], [0.85, 0.75, 0.6])][kind]  # sand
    ground_tex = (noise_texture(rng, base, spread=0.5, cells=8) if kind != 1 else
                  tile_texture(rng, base, base * rng.uniform(0.8, 1.2, 3), tiles=int(rng.integers(2, 8))))
    ground = quad([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]], (1, 1, 1),
                  (half / 2, half / 2), ground_tex)
    wall_tex = noise_texture(rng, rng.uniform(0.4, 0.9, 3), spread=0.4)
    blocks = []
    for _ in range(int(rng.integers(6, 16))):
        a, r = rng.uniform(0, 2 * np.pi), rng.uniform(30, 90)
        size = rng.uniform([4, 4, 3], [20, 20, 25])
        blocks.append(box([r * np.cos(a), r * np.sin(a), size[2] / 2], size, rng.uniform(0.5, 1.0, 3), wall_tex,
                          uv_scale=0.25))
    return Environment([ground, merge(blocks)], sky=tuple(rng.uniform([0.55, 0.65, 0.75], [0.8, 0.88, 0.98])))


def occluder(rng: np.random.Generator, eye: np.ndarray, path: np.ndarray,
             texture: np.ndarray | None = None) -> MeshData | None:
    """A box, pole or panel standing between the camera at ``eye`` and the athlete's ``path (T, 3)``.

    It stands on z = 0 on the line of sight to the path's middle, a random distance in front of the
    path's horizontal reach, and off that line by up to half its width, so it hides part of the athlete.
    None when the camera is too close for anything to fit in between.
    """
    mid = path.mean(axis=0)
    to_eye = eye[:2] - mid[:2]
    dist = float(np.linalg.norm(to_eye))
    reach = float(np.linalg.norm(path[:, :2] - mid[:2], axis=1).max()) + 0.5  # where the athlete's limbs go
    gap = reach + rng.uniform(0.2, 2.0)
    if dist < gap + 0.6:
        return None
    along = to_eye / dist
    side = np.array([-along[1], along[0]])
    kind = rng.integers(3)
    # (across, deep, tall): a crate or a wall end, a pole or a tree trunk, a board or a banner
    size = [rng.uniform([0.6, 0.6, 0.5], [1.6, 1.6, 1.3]), rng.uniform([0.08, 0.08, 1.8], [0.35, 0.35, 3.5]),
            rng.uniform([0.8, 0.05, 0.8], [2.5, 0.1, 1.9])][kind]
    xy = mid[:2] + gap * along + side * rng.uniform(-0.5, 0.5) * max(size[0], 0.5)
    colour = rng.uniform(0.15, 0.95, 3)
    if texture is None:
        texture = noise_texture(rng, np.ones(3), spread=rng.uniform(0.1, 0.6), cells=int(rng.integers(2, 8)))
    # box() is axis-aligned: turn its corners to face the camera
    mesh = box([0, 0, size[2] / 2], size[[0, 1, 2]], colour, texture, uv_scale=1 / max(size[0], size[2]))
    turn = np.array([[side[0], along[0], 0], [side[1], along[1], 0], [0, 0, 1]])  # x -> side, y -> along
    mesh.vertices = mesh.vertices @ turn.T + np.array([xy[0], xy[1], 0.0])
    return mesh
