"""Procedural motions for the anny rig: walk, run, squat, arm swings, jump, turn, dive, ski turns, and the
families of ``motions_extra.py``; :data:`PROCEDURAL` names them all (each with a small smooth per-joint noise).

A :class:`Motion` is per-frame bone rotations (anny ``local-ref`` axis-angle, see ``body.py`` for the
axes) plus where the body is: for grounded motions the lowest point of the body is put ``lift`` above
the ground under the pelvis; for airborne ones (dives) ``position`` is the pelvis itself. Parameters
(speed, amplitude, cadence, path) are drawn from the generator passed in, so a seed fixes a motion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from train.synth.motions_extra import EXTRA
from train.synth.rig import GRAVITY, Motion, Rig, gait, heading_path, perturbed, spot


def walk(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    xy, yaw = heading_path(rng, t, speed=rng.uniform(0.9, 1.5), radius=rng.uniform(1.5, 3.0))
    phase = gait(rig, rng, t, cadence=rng.uniform(0.8, 1.0), hip=rng.uniform(0.35, 0.5),
                  knee=rng.uniform(0.6, 0.9), arm=rng.uniform(0.2, 0.45), lean=0.05)
    rig.root(yaw)
    lift = 0.01 * (1 + np.cos(2 * phase))
    return Motion(rig.rv, np.c_[xy, np.zeros(frames)], True, lift, "walk")


def run(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    xy, yaw = heading_path(rng, t, speed=rng.uniform(2.2, 3.2), radius=rng.uniform(2.0, 3.0))
    phase = gait(rig, rng, t, cadence=rng.uniform(1.3, 1.6), hip=rng.uniform(0.6, 0.85),
                  knee=rng.uniform(1.3, 1.8), arm=rng.uniform(0.5, 0.8), lean=0.2)
    rig.both("lowerarm01", -1.3)
    rig.root(yaw)
    lift = 0.06 * np.abs(np.sin(phase))
    return Motion(rig.rv, np.c_[xy, np.zeros(frames)], True, lift, "run")


def squat(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    depth = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.25, 0.45) * t)  # 0 standing .. 1 down
    d = rng.uniform(0.7, 1.0) * depth
    rig.both("upperleg01", -1.4 * d, 0.0, 0.15 * d)
    rig.both("lowerleg01", 2.0 * d)
    rig.both("foot", -0.5 * d)
    rig.set("spine03", 0.5 * d)
    rig.both("upperarm01", -1.2 * d)
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "squat")


def arm_swings(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    f = rng.uniform(0.3, 0.7)
    rig.set("upperarm01.L", -1.2 * np.sin(2 * np.pi * f * t) ** 2, -1.6 * np.sin(np.pi * f * t) ** 2)
    rig.set("upperarm01.R", -1.2 * np.cos(2 * np.pi * f * t) ** 2, 1.6 * np.cos(np.pi * f * t) ** 2)
    rig.both("lowerarm01", -0.8 * (1 + np.sin(2 * np.pi * 2 * f * t)) / 2)
    rig.set("spine03", 0.1 * np.sin(2 * np.pi * f * t), 0.0, 0.3 * np.sin(np.pi * f * t))
    rig.root(rng.uniform(-np.pi, np.pi) + 0.5 * np.sin(2 * np.pi * 0.1 * t))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "arm_swings")


def jump(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    period = rng.uniform(1.4, 2.0)
    u = (t % period) / period  # 0..1 per jump: crouch (0-0.35), flight (0.35-0.75), land (0.75-1)
    crouch = np.where(u < 0.35, np.sin(np.pi * u / 0.35), 0) + np.where(u > 0.75, np.sin(np.pi * (u - 0.75) / 0.25), 0)
    flight = np.clip((u - 0.35) / 0.4, 0, 1) * (u < 0.75)
    airtime = 0.4 * period
    v0 = GRAVITY * airtime / 2
    height = np.where(flight > 0, v0 * flight * airtime - GRAVITY / 2 * (flight * airtime) ** 2, 0)
    rig.both("upperleg01", -1.0 * crouch - 0.4 * flight)
    rig.both("lowerleg01", 1.6 * crouch + 0.6 * flight)
    rig.both("foot", -0.4 * crouch)
    rig.set("spine03", 0.4 * crouch)
    rig.both("upperarm01", 0.8 * crouch - 2.0 * flight)
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    return Motion(rig.rv, spot(rng, frames), True, height, "jump")


def turn(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    rate = rng.uniform(0.8, 2.0) * rng.choice([-1, 1])  # rad/s
    rig.both("upperarm01", 0.0, -0.6)
    rig.both("lowerarm01", -0.6)
    rig.set("upperleg01.L", -0.3 * np.clip(np.sin(4 * t), 0, None))
    rig.set("upperleg01.R", -0.3 * np.clip(-np.sin(4 * t), 0, None))
    rig.root(rng.uniform(-np.pi, np.pi) + rate * t)
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "turn")


def dive(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator,
         platform: float = 10.0) -> Motion:
    """Stand on the edge, take off, tuck or pike while somersaulting forward, open up, enter the water."""
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    vz, vy = rng.uniform(2.5, 3.5), rng.uniform(0.8, 1.5)
    stand_z = platform + 0.95  # pelvis above the platform when standing
    flight_time = (vz + np.sqrt(vz**2 + 2 * GRAVITY * stand_z)) / GRAVITY
    # take off so that the entry falls just before the end of the clip (but stand at least 0.3 s)
    t0 = float(np.clip(t[-1] - flight_time - rng.uniform(0.1, 0.4), 0.3, 1.5))
    fall = np.clip(t - t0, 0, None)
    z = stand_z + vz * fall - GRAVITY / 2 * fall**2
    y = -0.3 - vy * fall  # the platform edge is at y = 0; the diver faces -y
    t_water = t0 + flight_time
    flight = (t > t0) & (t < t_water)
    shape = rng.choice(["tuck", "pike"])
    somersaults = rng.choice([1.5, 2.5]) if shape == "tuck" else rng.choice([1.5, 2.0])
    # rotate so that the body enters head first: total pitch = somersaults turns, ending head down
    progress = np.clip((t - t0) / (t_water - t0), 0, 1)
    spin = 2 * np.pi * somersaults * (1 - (1 - progress) ** 1.5) + 0.3 * progress
    open_up = np.clip((progress - 0.75) / 0.15, 0, 1)  # stretch out before entry
    tight = np.sin(np.pi * np.clip(progress / 0.8, 0, 1)) ** 0.5 * (1 - open_up) * flight
    if shape == "tuck":
        rig.both("upperleg01", -2.1 * tight)
        rig.both("lowerleg01", 2.3 * tight)
    else:
        rig.both("upperleg01", -2.3 * tight)
    rig.set("spine03", 0.5 * tight)
    arms_up = np.where(t < t0, np.clip(t / t0, 0, 1), open_up)
    rig.both("upperarm01", -1.0 * tight - 0.6 * arms_up * 0, -2.4 * arms_up)
    rig.both("lowerarm01", -1.4 * tight)
    rig.root(np.pi * 0 + np.zeros(frames), pitch=np.where(flight | (t >= t_water), spin, 0.0))
    return Motion(rig.rv, np.c_[np.zeros(frames), y, z], False, np.zeros(frames), f"dive_{shape}")


def ski(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator,
        slope: Callable[[np.ndarray], np.ndarray] | None = None) -> Motion:
    """Carved S-turns down the fall line (+y) with lean into each turn and flexed legs."""
    t = np.arange(frames) / fps
    rig = Rig(bones, frames)
    speed, amp, f = rng.uniform(6, 10), rng.uniform(3, 6), rng.uniform(0.25, 0.4)
    phase = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    x = amp * np.sin(phase)
    y = speed * t - speed * t[-1] / 2
    dx = amp * 2 * np.pi * f * np.cos(phase)
    heading = np.arctan2(dx, speed)  # angle of travel from +y towards +x
    lean = -0.6 * np.sin(phase) * rng.uniform(0.6, 1.0)  # into the turn
    flex = 0.5 + 0.25 * np.abs(np.cos(phase))
    rig.both("upperleg01", -0.8 * flex)
    rig.both("lowerleg01", 1.3 * flex)
    rig.both("foot", -0.5 * flex)
    rig.set("spine03", 0.35)
    rig.both("upperarm01", -0.5, -0.35)
    rig.both("lowerarm01", -0.9)
    # the body faces -y at yaw 0; skiing towards +y means yaw = pi, minus the heading
    rig.root(np.pi - heading, roll=lean)
    return Motion(rig.rv, np.c_[x, y, np.zeros(frames)], True, np.zeros(frames), "ski")


_FAMILIES: dict[str, Callable[..., Motion]] = {
    "walk": walk, "run": run, "squat": squat, "arm_swings": arm_swings, "jump": jump, "turn": turn,
    "dive": dive, "ski": ski, **EXTRA,
}
# every procedural motion gets a few degrees of smooth per-joint noise, so no two frames or takes repeat
PROCEDURAL: dict[str, Callable[..., Motion]] = {name: perturbed(fn) for name, fn in _FAMILIES.items()}
EVERYDAY = tuple(name for name in _FAMILIES if name not in ("dive", "ski"))
