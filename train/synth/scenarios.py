"""Scenario presets of the synthetic world: which motions, outfits, venue and cameras. Configs, not code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.synth.cameras import Camera, VariedRig, make_camera, ring_of_cameras, varied_cameras
from train.synth.environments import (PLATFORM_HEIGHT, SLOPE_DEG, Environment, open_ground, pool_hall, slope_height,
                                      ski_slope, studio_room)
from train.synth.motions import EVERYDAY
from train.synth.renderer import Ground


@dataclass(frozen=True)
class Scenario:
    """A preset: motions drawn per sequence, the outfit, and the camera rig kind."""

    name: str
    motions: tuple[str, ...]
    outfit: str
    rig: str  # "studio" (4 fixed cameras), "dive" (1 fixed), "ski" (1 panning/zooming), "varied" (1 drawn per take)
    sky_ground: bool = True  # grounded motions stand on the venue's ground
    lighting: str = "fixed"  # "fixed" (one light, drifting intensity) or "drawn" per take (direction, colour, level)
    occluders: float = 0.0  # share of takes with a prop between the camera and the athlete


SCENARIOS = {
    "studio": Scenario("studio", ("walk", "run", "squat", "arm_swings", "jump", "turn"), "casual", "studio"),
    "dive": Scenario("dive", ("dive",), "swimwear", "dive"),
    "ski": Scenario("ski", ("ski",), "skisuit", "ski"),
    # the studio rig with every everyday family (not dives or ski turns): more kinds of pose for real footage
    "mixed": Scenario("mixed", EVERYDAY, "casual", "studio"),
    # the mixed motions framed every way real footage is: one camera drawn per take (VariedRig), drawn light,
    # props in front of the athlete in a fifth of the takes
    "varied": Scenario("varied", EVERYDAY, "casual", "varied", lighting="drawn", occluders=0.2),
}


def venue(scenario: Scenario, rng: np.random.Generator) -> Environment:
    """The procedural venue of a scenario."""
    return {"studio": studio_room, "dive": pool_hall, "ski": ski_slope, "varied": open_ground}[scenario.rig](rng)


def ground_height(scenario: Scenario, xy: np.ndarray) -> np.ndarray:
    """Ground height under points ``xy (..., 2)``."""
    if scenario.rig == "ski":
        return slope_height(xy[..., 1])
    return np.zeros(xy.shape[:-1])


def shadow_ground(scenario: Scenario) -> Ground | None:
    """The plane the athlete's shadow falls on (also over a photo plate), or None where the athlete is in
    the air (a dive: the water is metres below, where no contact shadow would show)."""
    if scenario.rig == "dive":
        return None
    if scenario.rig == "ski":  # z = -tan(slope) y
        n = np.array([0.0, np.tan(np.radians(SLOPE_DEG)), 1.0])
        return Ground(normal=tuple(n / np.linalg.norm(n)), offset=0.0)
    return Ground()


def vfov_camera(width: int, height: int, vfov_deg: float, eye, target) -> Camera:
    """A camera specified by its vertical field of view."""
    hfov = 2 * np.degrees(np.arctan(np.tan(np.radians(vfov_deg) / 2) * width / height))
    return make_camera(width, height, hfov, eye, target)


def cameras_for(scenario: Scenario, width: int, height: int, joints: np.ndarray,
                rng: np.random.Generator) -> list[list[Camera]]:
    """Per camera of the rig, one Camera per frame (fixed rigs repeat the same one).

    ``joints (T, 17, 3)`` are the subject's world joints, which the ski and varied cameras follow.
    """
    frames = len(joints)
    pelvis = joints[:, 0]
    if scenario.rig == "varied":
        return [varied_cameras(VariedRig(), width, height, joints, rng)]
    if scenario.rig == "studio":
        target = np.array([0.0, 0.0, 0.9])
        # Human3.6M-like framing (square 1000 px frames, ~47 degrees, ~5 m): the athlete fills about 30-55% of the
        # height; the field of view is set vertically so wide frames show more floor, not a cut-off athlete
        vfov = np.radians(rng.uniform(42, 48))
        hfov = 2 * np.degrees(np.arctan(np.tan(vfov / 2) * width / height))
        rig = ring_of_cameras(width, height, 4, radius=rng.uniform(4.6, 5.2), height_m=rng.uniform(1.4, 2.0),
                              target=target, hfov_deg=hfov, start_deg=45 + rng.uniform(-10, 10))
        return [[cam] * frames for cam in rig]
    if scenario.rig == "dive":
        mid = PLATFORM_HEIGHT / 2 + 0.6
        eye = [rng.uniform(13, 16), -2.5 + rng.uniform(-1, 1), mid + rng.uniform(-1, 1)]
        cam = vfov_camera(width, height, rng.uniform(52, 58), eye, [0.0, -2.0, mid])
        return [[cam] * frames]
    # ski: a camera on the side of the slope pans and zooms to follow the skier, with lag and shake
    eye = np.array([-rng.uniform(18, 26), 0.0, 0.0])  # the tree-free side of the slope
    eye[2] = slope_height(eye[1]) + rng.uniform(3, 6)
    target = pelvis.copy()
    for t in range(1, frames):  # first-order lag: an operator following the athlete
        target[t] = target[t - 1] + 0.35 * (pelvis[t] - target[t - 1])
    target += rng.normal(0, 0.04, target.shape)
    cams = []
    for t in range(frames):
        dist = np.linalg.norm(target[t] - eye)
        vfov = np.degrees(2 * np.arctan((1.8 / rng.uniform(0.3, 0.32)) / 2 / dist))
        cams.append(vfov_camera(width, height, float(np.clip(vfov, 4, 60)), eye, target[t]))
    return [cams]
