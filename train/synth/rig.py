"""What procedural motions are written with: :class:`Motion`, the :class:`Rig` that sets joint angles by bone
name, paths (wandering, on the spot), a gait, smooth random curves, and small per-joint perturbations.

Angles follow anny's ``local-ref`` axes (see ``body.py``): about +x a thigh swings back for a positive
angle (so hip flexion is negative), a knee bends for a positive one, the trunk (``spine03``) bends forward
for a positive one, an upper arm rises forwards for a negative one and an elbow bends for a negative one;
about +y a left limb rises sideways (abducts) for a negative angle and the trunk leans to its left for a
positive one; about +z the trunk twists to its left for a positive one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from train.synth.rotations import axis_rotation, matrix_to_rotvec

GRAVITY = 9.81  # m/s^2
MAX_EXTENT = 1.6  # m: paths stay this close to the studio's centre (cameras ~5 m away keep the athlete in frame)


@dataclass
class Motion:
    """``rotvecs (T, bones, 3)``; ``position (T, 3)`` world metres; ``lift (T,)`` height above ground."""

    rotvecs: np.ndarray
    position: np.ndarray
    grounded: bool
    lift: np.ndarray
    name: str


class Rig:
    """Writes joint angles by bone name into a (T, bones, 3) array."""

    def __init__(self, bone_index: dict[str, int], frames: int) -> None:
        self.idx = bone_index
        self.rv = np.zeros((frames, len(bone_index), 3))

    def set(self, bone: str, x=0.0, y=0.0, z=0.0) -> None:
        self.rv[:, self.idx[bone]] = np.stack(np.broadcast_arrays(x, y, z, np.zeros(len(self.rv)))[:3], -1)

    def both(self, bone: str, x=0.0, y_left=0.0, z_left=0.0) -> None:
        """Same angle about x on both sides; y/z mirrored (the right side gets the opposite sign)."""
        self.set(f"{bone}.L", x, y_left, z_left)
        self.set(f"{bone}.R", x, -np.asarray(y_left), -np.asarray(z_left))

    def side(self, bone: str, side: str, x=0.0, y_left=0.0, z_left=0.0) -> None:
        """Angles of ``bone`` on ``side`` ("L" or "R"), y/z given as for the left (mirrored on the right)."""
        sign = 1.0 if side == "L" else -1.0
        self.set(f"{bone}.{side}", x, sign * np.asarray(y_left), sign * np.asarray(z_left))

    def root(self, yaw, pitch=0.0, roll=0.0) -> None:
        """Body orientation: yaw about world z (0 = facing -y), then pitch about x, roll about y."""
        yaw, pitch, roll = np.broadcast_arrays(yaw, pitch, roll, np.zeros(len(self.rv)))[:3]
        R = axis_rotation("z", yaw) @ axis_rotation("x", pitch) @ axis_rotation("y", roll)  # (T, 3, 3)
        self.rv[:, 0] = matrix_to_rotvec(R)


def heading_path(rng: np.random.Generator, t: np.ndarray, speed: float,
                  radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A smooth wandering path around the origin: positions (T, 2) and the heading yaw (T,)."""
    turn_rate = speed / radius * rng.choice([-1, 1])
    yaw0 = rng.uniform(-np.pi, np.pi)
    yaw = yaw0 + turn_rate * t + 0.3 * np.sin(rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6))
    direction = np.stack([np.sin(yaw), -np.cos(yaw)], -1)  # body faces -y at yaw 0
    dt = np.diff(t, prepend=t[0])
    xy = np.cumsum(direction * speed * dt[:, None], axis=0)
    xy -= xy.mean(axis=0)  # centre the path on the capture area
    extent = np.linalg.norm(xy, axis=1).max()
    if extent > MAX_EXTENT:  # stay inside the capture area (the feet slide a little)
        xy *= MAX_EXTENT / extent
    return xy, yaw


def spot(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Where an on-the-spot motion happens: anywhere in the capture area, so that across takes the
    per-camera median background is empty (a fixed spot would leave the athlete in it)."""
    r, a = MAX_EXTENT * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    return np.tile([r * np.cos(a), r * np.sin(a), 0.0], (frames, 1))


def gait(rig: Rig, rng: np.random.Generator, t: np.ndarray, cadence: float, hip: float, knee: float,
          arm: float, lean: float) -> np.ndarray:
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    s = np.sin(phase)
    rig.set("upperleg01.L", -hip * s)
    rig.set("upperleg01.R", hip * s)
    rig.set("lowerleg01.L", knee * np.clip(np.sin(phase - 1.2), 0, None) + 0.1)
    rig.set("lowerleg01.R", knee * np.clip(np.sin(phase + np.pi - 1.2), 0, None) + 0.1)
    rig.set("upperarm01.L", arm * s)
    rig.set("upperarm01.R", -arm * s)
    rig.both("lowerarm01", -0.3 - 0.5 * arm)
    rig.set("spine03", lean)
    return phase


def smooth(rng: np.random.Generator, t: np.ndarray, amp: float, hz: tuple[float, float] = (0.1, 0.6),
           terms: int = 3) -> np.ndarray:
    """A smooth random curve ``(T,)`` of about ``amp`` peak: a sum of sines of random slow frequencies."""
    f = rng.uniform(*hz, terms)
    phase = rng.uniform(0, 2 * np.pi, terms)
    weight = rng.uniform(0.5, 1.0, terms)
    weight *= amp / weight.sum()
    return (weight * np.sin(2 * np.pi * f * t[:, None] + phase)).sum(-1)


def bump(u: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 outside ``[start, end]``, rising smoothly to 1 at the middle (a raised cosine) of the phase ``u``."""
    x = np.clip((u - start) / (end - start), 0, 1)
    return 0.5 - 0.5 * np.cos(2 * np.pi * x)


def ramp(u: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 before ``start``, 1 after ``end``, a smooth step between."""
    x = np.clip((u - start) / (end - start), 0, 1)
    return x * x * (3 - 2 * x)


def keyframes(u: np.ndarray, knots: list[float], values: list[float]) -> np.ndarray:
    """Values at the phase ``u``, eased (smoothstep) between ``values`` at increasing ``knots``; held outside."""
    knots_a, values_a = np.asarray(knots, float), np.asarray(values, float)
    k = np.clip(np.searchsorted(knots_a, u, side="right") - 1, 0, len(knots_a) - 2)
    x = np.clip((u - knots_a[k]) / (knots_a[k + 1] - knots_a[k]), 0, 1)
    return values_a[k] + (values_a[k + 1] - values_a[k]) * x * x * (3 - 2 * x)


def wander(rng: np.random.Generator, t: np.ndarray, low: float, high: float,
           dwell: tuple[float, float] = (0.6, 1.4)) -> np.ndarray:
    """A value moving between random targets in ``[low, high]``, one every ``dwell`` seconds (eased)."""
    knots = [t[0] - rng.uniform(0, dwell[1])]
    while knots[-1] <= t[-1]:
        knots.append(knots[-1] + rng.uniform(*dwell))
    return keyframes(t, knots, list(rng.uniform(low, high, len(knots))))


# Bones whose angles the perturbation touches (not the root: paths and facing stay as the motion wrote them)
PERTURBED_BONES = (
    "spine04", "spine03", "spine02", "spine01", "neck01", "head", "clavicle.L", "clavicle.R",
    "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
    "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R",
)


def perturb(rotvecs: np.ndarray, bone_index: dict[str, int], fps: float, rng: np.random.Generator,
            degrees: float = 4.0) -> np.ndarray:
    """``rotvecs (T, bones, 3)`` plus smooth random per-joint offsets of about ``degrees`` (so no two frames or
    takes repeat exactly); the small angles are added to the axis-angle, which is their composition to first order."""
    t = np.arange(len(rotvecs)) / fps
    out = rotvecs.copy()
    amp = np.radians(degrees)
    for name in PERTURBED_BONES:
        if name in bone_index:
            out[:, bone_index[name]] += np.stack([smooth(rng, t, amp, (0.15, 1.2)) for _ in range(3)], -1)
    return out


def perturbed(motion: Callable[..., Motion], degrees: float = 4.0) -> Callable[..., Motion]:
    """``motion`` with :func:`perturb` applied to its joint angles (drawn from the same generator, after it)."""

    @functools.wraps(motion)
    def wrapped(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator, **kwargs) -> Motion:
        m = motion(bones, frames, fps, rng, **kwargs)
        m.rotvecs = perturb(m.rotvecs, bones, fps, rng, degrees)
        return m

    return wrapped
