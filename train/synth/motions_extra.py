"""More everyday procedural motions, for pose variety: lunge, kick, throw, sprint start, cartwheel / handstand,
getting up from the floor, crouching reach, boxing, dance, stretching, reach and wave, carrying while walking,
high steps and jumping jacks.

Same contract as ``motions.py``: ``(bones, frames, fps, rng) -> Motion``, every parameter drawn from ``rng``.
Angle conventions are listed in ``rig.py``; "lead" sides and handedness are drawn, so each motion is seen
both ways round.
"""

from __future__ import annotations

import numpy as np

from train.synth.rig import MAX_EXTENT, Motion, Rig, bump, gait, heading_path, keyframes, ramp, smooth, spot, wander

SIDES = ("L", "R")


def _setup(bones: dict[str, int], frames: int, fps: float) -> tuple[np.ndarray, Rig]:
    return np.arange(frames) / fps, Rig(bones, frames)


def _other(side: str) -> str:
    return "R" if side == "L" else "L"


def _cycles(rng: np.random.Generator, t: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Phase ``u`` in [0, 1) of a repeated movement and the repetition number, from a random start."""
    c = t / period + rng.uniform(0, 1)
    return c % 1, np.floor(c).astype(int)


# (upper arm x, y, z, forearm x, z) for the left arm, fitted on anny so the wrist lands where it should
GUARD = (-0.3, 0.8, -0.8, -1.2, -0.5)  # fist in front of the chin, elbow down
PUNCHES = {
    "straight": (-1.2, 0.8, -0.8, 0.0, 0.6),  # arm reaching out in front of the face
    "hook": (-0.4, -0.8, -1.2, -0.8, -0.4),  # elbow up at the side, forearm across
    "uppercut": (-0.6, 0.4, -1.2, -1.2, 0.0),  # fist rising in front, elbow under it
}


def _arm(rig: Rig, side: str, angles) -> None:
    """Set an arm from ``(upper arm x, y, z, forearm x, z)`` curves (given for the left, mirrored on the right)."""
    rig.side("upperarm01", side, angles[0], angles[1], angles[2])
    rig.side("lowerarm01", side, angles[3], 0.0, angles[4])


def _guard(rig: Rig, rng: np.random.Generator) -> None:
    """Fists up in front of the chin."""
    for side in SIDES:
        _arm(rig, side, np.asarray(GUARD) + rng.uniform(-0.1, 0.1, 5))


def lunge(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Forward lunges on alternate legs: the front shin vertical, the back knee dropping towards the floor."""
    t, rig = _setup(bones, frames, fps)
    u, rep = _cycles(rng, t, rng.uniform(1.6, 2.6))
    d = rng.uniform(0.6, 1.0) * bump(u, 0.0, 1.0)
    left_leads = (rep + rng.integers(2)) % 2 == 0
    front = dict(x=-1.4 * d, knee=1.6 * d, foot=-0.2 * d)
    back = dict(x=0.35 * d, knee=1.7 * d, foot=0.6 * d)
    for side, leads in (("L", left_leads), ("R", ~left_leads)):
        rig.side("upperleg01", side, np.where(leads, front["x"], back["x"]))
        rig.side("lowerleg01", side, np.where(leads, front["knee"], back["knee"]))
        rig.side("foot", side, np.where(leads, front["foot"], back["foot"]))
    arms = rng.choice(["hang", "forward", "overhead"])
    if arms == "forward":
        rig.both("upperarm01", -1.4 * d, 0.5 * d)
    elif arms == "overhead":
        rig.both("upperarm01", -2.8 + 0.2 * d)
    rig.both("lowerarm01", -0.2 - 0.3 * d)
    rig.set("spine03", 0.1 * d)
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "lunge")


def kick(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Front, side or round kicks: chamber the knee, snap the leg out, recoil; the arms keep a guard."""
    t, rig = _setup(bones, frames, fps)
    style = str(rng.choice(["front", "side", "round"]))
    u, rep = _cycles(rng, t, rng.uniform(1.2, 2.0))
    chamber = bump(u, 0.1, 0.9)
    extend = bump(u, 0.35, 0.65)
    height = rng.uniform(0.75, 1.15)
    kicking_left = (rep + rng.integers(2)) % 2 == 0 if rng.uniform() < 0.5 else np.full(frames, rng.uniform() < 0.5)
    knee = chamber * (1.9 - 1.75 * extend)
    hip_x = {"front": -1.5, "side": -0.5, "round": -1.0}[style] * height * chamber
    hip_y = {"front": 0.0, "side": -1.1, "round": -0.8}[style] * height * chamber
    for side, kicks in (("L", kicking_left), ("R", ~kicking_left)):
        rig.side("upperleg01", side, np.where(kicks, hip_x, -0.1), np.where(kicks, hip_y, 0.0))
        rig.side("lowerleg01", side, np.where(kicks, knee, 0.25))
        rig.side("foot", side, np.where(kicks, 0.4 * extend, -0.1))
    lean = {"front": 0.0, "side": 0.5, "round": 0.3}[style] * chamber
    sign = np.where(kicking_left, -1.0, 1.0)  # lean away from the kicking leg
    rig.set("spine03", -0.15 * chamber if style == "front" else 0.1 * chamber, sign * lean, 0.0)
    _guard(rig, rng)
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), f"kick_{style}")


def throw(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Overhand throws: wind up (arm back and up, the other arm pointing), step, whip through, follow through."""
    t, rig = _setup(bones, frames, fps)
    u, _ = _cycles(rng, t, rng.uniform(1.6, 2.6))
    arm = str(rng.choice(SIDES))
    lead = _other(arm)
    sign = 1.0 if arm == "L" else -1.0  # trunk twist towards the throwing arm at wind-up
    k = [0.0, 0.35, 0.55, 0.75, 1.0]
    a = rng.uniform(0.8, 1.1)
    rig.side("upperarm01", arm, keyframes(u, k, [0, 0.6 * a, -2.0 * a, -1.0, 0]),
             keyframes(u, k, [0, -1.3 * a, -0.6, 0.3, 0]))
    rig.side("lowerarm01", arm, keyframes(u, k, [-0.2, -1.8, -0.3, -0.5, -0.2]))
    rig.side("upperarm01", lead, keyframes(u, k, [0, -1.3, 0.3, 0.2, 0]), keyframes(u, k, [0, -0.2, 0.1, 0, 0]))
    rig.side("lowerarm01", lead, keyframes(u, k, [-0.2, -0.3, -1.0, -0.6, -0.2]))
    rig.set("spine03", keyframes(u, k, [0, -0.1, 0.3, 0.5, 0]), 0.0, sign * keyframes(u, k, [0, 0.5, -0.4, -0.5, 0]))
    rig.side("upperleg01", lead, keyframes(u, k, [0, -0.6, -0.4, -0.2, 0]))
    rig.side("lowerleg01", lead, keyframes(u, k, [0.1, 0.9, 0.3, 0.3, 0.1]))
    rig.side("lowerleg01", arm, keyframes(u, k, [0.1, 0.3, 0.4, 0.6, 0.1]))
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "throw")


def sprint_start(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """A crouched standing start, then an accelerating sprint in a straight line, leaning forward."""
    t, rig = _setup(bones, frames, fps)
    t_go = rng.uniform(0.2, 1.0) * min(1.0, t[-1])
    lead = str(rng.choice(SIDES))
    pitch0 = rng.uniform(0.5, 0.8)
    phase = gait(rig, rng, t, cadence=rng.uniform(1.5, 1.8), hip=rng.uniform(0.7, 0.9), knee=rng.uniform(1.5, 1.9),
                 arm=rng.uniform(0.6, 0.9), lean=0.2)
    rig.both("lowerarm01", -1.3)
    running = rig.rv.copy()
    rig.rv[:] = 0
    rig.side("upperleg01", lead, -pitch0 - 1.0)  # relative to the pitched trunk
    rig.side("lowerleg01", lead, 1.5)
    rig.side("upperleg01", _other(lead), -pitch0 + 0.3)
    rig.side("lowerleg01", _other(lead), 1.2)
    rig.both("foot", -0.3)
    rig.side("upperarm01", lead, 0.6)  # arms opposite to the legs
    rig.side("upperarm01", _other(lead), -1.2)
    rig.both("lowerarm01", -0.9)
    w = ramp(t, t_go, t_go + 0.35)[:, None, None]
    rig.rv = (1 - w) * rig.rv + w * running
    go = np.clip(t - t_go, 0, None)
    accel, vmax = rng.uniform(3.0, 5.0), rng.uniform(5.0, 7.0)
    dist = np.where(go < vmax / accel, accel / 2 * go**2, vmax**2 / (2 * accel) + vmax * (go - vmax / accel))
    if dist[-1] > 2 * MAX_EXTENT:  # stay in the capture area (the feet slide)
        dist *= 2 * MAX_EXTENT / dist[-1]
    yaw = rng.uniform(-np.pi, np.pi)
    heading = np.array([np.sin(yaw), -np.cos(yaw)])
    xy = (dist - dist[-1] / 2)[:, None] * heading
    rig.root(yaw + np.zeros(frames), pitch=pitch0 * (1 - w[:, 0, 0]) + 0.12 * w[:, 0, 0])
    lift = 0.06 * np.abs(np.sin(phase)) * w[:, 0, 0]
    return Motion(rig.rv, np.c_[xy, np.zeros(frames)], True, lift, "sprint_start")


def inversion(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Cartwheels (a full turn about the front-back axis, travelling sideways) or a kick-up to a handstand."""
    t, rig = _setup(bones, frames, fps)
    style = str(rng.choice(["cartwheel", "handstand"]))
    u, rep = _cycles(rng, t, rng.uniform(1.4, 2.2) if style == "cartwheel" else rng.uniform(2.2, 3.2))
    yaw = rng.uniform(-np.pi, np.pi) + np.zeros(frames)
    if style == "cartwheel":
        direction = float(rng.choice([-1.0, 1.0]))
        turn = ramp(u, 0.1, 0.75)
        rig.root(yaw, roll=direction * 2 * np.pi * turn)
        spread = bump(u, 0.0, 0.85)
        rig.both("upperarm01", -0.2 * spread, -2.6 * spread)
        rig.both("upperleg01", 0.0, -0.6 * spread)
        rig.both("lowerleg01", 0.1 * (1 - spread))
        travel = (rep + turn) * rng.uniform(1.2, 1.6)
        travel = travel - travel.mean()
        if np.abs(travel).max() > MAX_EXTENT:
            travel *= MAX_EXTENT / np.abs(travel).max()
        side = np.stack([np.cos(yaw), np.sin(yaw)], -1) * direction  # the body's +x in the world
        return Motion(rig.rv, np.c_[travel[:, None] * side, np.zeros(frames)], True, np.zeros(frames), "cartwheel")
    k = [0.0, 0.1, 0.35, 0.7, 0.9, 1.0]
    up = keyframes(u, k, [0, 0.1, np.pi, np.pi, 0.1, 0])
    lead = str(rng.choice(SIDES))
    split = bump(u, 0.05, 0.45) + bump(u, 0.65, 0.95)
    rig.root(yaw, pitch=up)
    rig.both("upperarm01", -2.9 * ramp(u, 0.05, 0.25) * (1 - ramp(u, 0.8, 0.95)))
    rig.side("upperleg01", lead, -1.2 * split)
    rig.side("upperleg01", _other(lead), 0.3 * split)
    rig.both("lowerleg01", 0.2 * split)
    rig.set("spine03", 0.2 * split - 0.15 * ramp(u, 0.35, 0.45) * (1 - ramp(u, 0.6, 0.7)))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "handstand")


def get_up(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Lying on the back, sitting up, tucking into a crouch and standing (or the reverse: lying down)."""
    t, rig = _setup(bones, frames, fps)
    duration = rng.uniform(2.0, 3.5)
    u = t / duration + rng.uniform(-0.1, 0.5)  # from some phase of it, so even a short clip moves
    if rng.uniform() < 0.5:
        u = u[::-1]
    k = [0.0, 0.2, 0.45, 0.65, 0.85, 1.0]
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames), pitch=keyframes(u, k, [-1.57, -1.57, -0.1, 0.5, 0.1, 0]))
    rig.both("upperleg01", keyframes(u, k, [0, 0, -1.45, -2.2, -0.4, 0]), 0.0, 0.0)
    rig.both("lowerleg01", keyframes(u, k, [0.1, 0.1, 0.3, 2.3, 0.3, 0.05]))
    rig.both("foot", keyframes(u, k, [0, 0, 0, -0.5, -0.1, 0]))
    rig.set("spine03", keyframes(u, k, [0, 0, 0.2, 0.3, 0.1, 0]))
    rig.both("upperarm01", keyframes(u, k, [-0.1, -0.1, -0.6, -1.2, -0.3, 0]))
    rig.both("lowerarm01", keyframes(u, k, [-0.2, -0.2, -0.4, -0.3, -0.2, -0.2]))
    rig.set("neck01", keyframes(u, k, [0, 0.3, 0.2, 0, 0, 0]))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "get_up")


def crouch_reach(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Kneeling on one knee or squatting low, reaching out with the arms to wandering targets."""
    t, rig = _setup(bones, frames, fps)
    if rng.uniform() < 0.5:
        lead = str(rng.choice(SIDES))
        rig.side("upperleg01", lead, -1.5)
        rig.side("lowerleg01", lead, 1.5)
        rig.side("upperleg01", _other(lead), 0.1)
        rig.side("lowerleg01", _other(lead), 1.6)
        rig.side("foot", _other(lead), 0.4)
        pitch, name = 0.0, "kneel_reach"
    else:
        rig.both("upperleg01", -2.0, 0.0, 0.15)
        rig.both("lowerleg01", 2.3)
        rig.both("foot", -0.5)
        pitch, name = 0.3, "crouch_reach"
    for side in SIDES:
        rig.side("upperarm01", side, wander(rng, t, -2.4, 0.2), wander(rng, t, -1.4, 0.3))
        rig.side("lowerarm01", side, wander(rng, t, -1.3, 0.0))
    rig.set("spine03", wander(rng, t, 0.0, 0.5), wander(rng, t, -0.3, 0.3), wander(rng, t, -0.5, 0.5))
    rig.set("neck01", 0.0, 0.0, wander(rng, t, -0.5, 0.5))
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames), pitch=pitch)
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), name)


def boxing(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """A boxing stance bouncing on the feet, throwing jabs, crosses, hooks and uppercuts from a guard."""
    t, rig = _setup(bones, frames, fps)
    lead = str(rng.choice(SIDES))
    rear = _other(lead)
    guard = (-0.9, 0.75, -2.1)
    arms = {s: np.tile(GUARD, (frames, 1)) for s in SIDES}  # (T, 5) per side
    twist = np.zeros(frames)
    start = -rng.uniform(0, 0.5)
    while start < t[-1]:
        dur = rng.uniform(0.25, 0.4)
        p = bump(t, start, start + dur)[:, None]
        kind, side = str(rng.choice(list(PUNCHES))), str(rng.choice(SIDES))
        arms[side] += p * (np.asarray(PUNCHES[kind]) - GUARD)
        twist += p[:, 0] * 0.4 * (-1 if side == "L" else 1)  # the punching shoulder comes forward
        start += dur + rng.uniform(0.1, 0.6)
    for side in SIDES:
        _arm(rig, side, arms[side].T)
    bounce = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
    rig.side("upperleg01", lead, -0.3 - 0.1 * bounce)
    rig.side("upperleg01", rear, 0.2 - 0.1 * bounce)
    rig.both("lowerleg01", 0.3 + 0.2 * bounce)
    stance = 0.4 if lead == "L" else -0.4  # side-on, the trunk twisted back towards the front
    rig.set("spine03", 0.15 + smooth(rng, t, 0.1), smooth(rng, t, 0.2), -stance + twist)
    rig.root(rng.uniform(-np.pi, np.pi) + stance + smooth(rng, t, 0.3))
    return Motion(rig.rv, spot(rng, frames), True, 0.03 * bounce, "boxing")


def dance(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """On the beat: an arm pattern (raise, disco point, sway, pump) over a leg pattern (bounce, step-touch,
    knee-up, kick), with hip sway and a slow turn; patterns and amplitudes drawn per take."""
    t, rig = _setup(bones, frames, fps)
    beat = 2 * np.pi * rng.uniform(0.8, 1.2) * t + rng.uniform(0, 2 * np.pi)  # one move per two beats
    s, c = np.sin(beat), np.cos(beat)
    alt = 0.5 + 0.5 * s  # 0..1, left on the high half
    arms = str(rng.choice(["raise", "point", "sway", "pump"]))
    a = rng.uniform(0.7, 1.0)
    if arms == "raise":
        rig.set("upperarm01.L", -2.7 * a * alt, -0.3 * alt)
        rig.set("upperarm01.R", -2.7 * a * (1 - alt), 0.3 * (1 - alt))
        rig.both("lowerarm01", -0.3)
    elif arms == "point":
        hi = (s > 0).astype(float)
        up, down = (-2.2 * a, -0.8), (-0.3, 0.4)
        rig.set("upperarm01.L", hi * up[0] + (1 - hi) * down[0], hi * up[1] + (1 - hi) * down[1])
        rig.set("upperarm01.R", (1 - hi) * up[0] + hi * down[0], -((1 - hi) * up[1] + hi * down[1]))
        rig.both("lowerarm01", -0.1)
    elif arms == "sway":
        rig.both("upperarm01", -0.3 * c, -1.1 * a - 0.5 * s)
        rig.both("lowerarm01", -0.6 - 0.5 * s)
    else:
        rig.both("upperarm01", -1.2 * a + 0.5 * np.sin(2 * beat), 0.1)
        rig.both("lowerarm01", -1.7)
    legs = str(rng.choice(["bounce", "step_touch", "knee_up", "kick"]))
    b = np.abs(np.sin(beat))  # once per beat
    if legs == "bounce":
        rig.both("upperleg01", -0.2 * b)
        rig.both("lowerleg01", 0.4 * b)
    else:
        lift = {"step_touch": (-0.1, -0.3, 0.5), "knee_up": (-1.2, 0.0, 1.4), "kick": (-0.9, 0.0, 0.2)}[legs]
        for side, on in (("L", np.clip(s, 0, None)), ("R", np.clip(-s, 0, None))):
            rig.side("upperleg01", side, lift[0] * on, lift[1] * on)
            rig.side("lowerleg01", side, lift[2] * on + 0.1)
    rig.set("spine03", 0.05, rng.uniform(0.1, 0.25) * s, rng.uniform(0.0, 0.3) * np.sin(beat / 2))
    rig.set("neck01", 0.1 * np.abs(np.sin(beat)), 0.0, 0.0)
    rig.root(rng.uniform(-np.pi, np.pi) + rng.uniform(-0.6, 0.6) * t)
    return Motion(rig.rv, spot(rng, frames), True, 0.02 * b, f"dance_{arms}")


def stretch(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Warm-up stretches: side bends with an arm overhead, toe touches (hinging at the hips), quad stretches
    on one leg, or a reach up on the toes."""
    t, rig = _setup(bones, frames, fps)
    kind = str(rng.choice(["side_bend", "toe_touch", "quad", "reach_up"]))
    u, rep = _cycles(rng, t, rng.uniform(2.0, 3.5))
    d = bump(u, 0.0, 1.0) * rng.uniform(0.7, 1.0)
    pitch = np.zeros(frames)
    if kind == "side_bend":
        left = (rep % 2 == 0)
        sign = np.where(left, -1.0, 1.0)  # bend to the right with the left arm over the head
        for bone in ("spine04", "spine03", "spine02"):
            rig.set(bone, 0.0, sign * 0.2 * d, 0.0)
        rig.set("upperarm01.L", 0.0, np.where(left, -2.7 * d, 0.3 * d))
        rig.set("upperarm01.R", 0.0, np.where(left, -0.3 * d, 2.7 * d))
        rig.both("lowerarm01", -0.3 * d)
    elif kind == "toe_touch":
        pitch = 1.2 * d
        rig.both("upperleg01", -pitch)  # legs stay upright while the body hinges at the hips
        rig.set("spine03", 0.4 * d)
        rig.set("spine02", 0.2 * d)
        rig.both("upperarm01", -1.8 * d)
    elif kind == "quad":
        side = str(rng.choice(SIDES))
        rig.side("upperleg01", side, 0.15 * d)
        rig.side("lowerleg01", side, 2.3 * d)
        rig.side("upperarm01", side, 0.5 * d, 0.1 * d)
        rig.side("lowerarm01", side, -0.3 * d)
        rig.side("upperarm01", _other(side), 0.0, -0.9 * d)  # balance
    else:
        rig.both("upperarm01", -2.9 * d, 0.1 * d)
        rig.both("foot", 0.5 * d)  # up on the toes
        rig.set("spine03", -0.1 * d)
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames), pitch=pitch)
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), f"stretch_{kind}")


def reach_wave(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Standing, both arms wandering between reaching, pointing and waving at varied heights; the head follows."""
    t, rig = _setup(bones, frames, fps)
    for side in SIDES:
        up = wander(rng, t, -2.8, 0.3)
        out = wander(rng, t, -2.0, 0.3)
        raised = ramp(-(up + out), 1.8, 2.6)  # a raised arm waves
        wave = raised * rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t)
        rig.side("upperarm01", side, up, out)
        rig.side("lowerarm01", side, wander(rng, t, -1.4, 0.0) * (1 - raised) - 0.6 * raised, wave)
    rig.set("spine03", wander(rng, t, -0.1, 0.2), wander(rng, t, -0.2, 0.2), wander(rng, t, -0.4, 0.4))
    rig.set("neck01", wander(rng, t, -0.2, 0.3), 0.0, wander(rng, t, -0.6, 0.6))
    weight = smooth(rng, t, 0.15)
    rig.set("upperleg01.L", 0.0, weight)
    rig.set("upperleg01.R", 0.0, weight)
    rig.root(rng.uniform(-np.pi, np.pi) + smooth(rng, t, 0.5))
    return Motion(rig.rv, spot(rng, frames), True, np.zeros(frames), "reach_wave")


def carry_walk(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Walking while carrying: a box in both arms, a heavy bag in one hand, a load on a shoulder, or a phone."""
    t, rig = _setup(bones, frames, fps)
    xy, yaw = heading_path(rng, t, speed=rng.uniform(0.7, 1.3), radius=rng.uniform(1.5, 3.0))
    phase = gait(rig, rng, t, cadence=rng.uniform(0.8, 1.0), hip=rng.uniform(0.3, 0.45), knee=rng.uniform(0.6, 0.85),
                 arm=rng.uniform(0.2, 0.4), lean=0.05)
    kind = str(rng.choice(["box", "bag", "shoulder", "phone"]))
    side = str(rng.choice(SIDES))
    sign = 1.0 if side == "L" else -1.0
    if kind == "box":
        rig.both("upperarm01", -0.7, 0.65)
        rig.both("lowerarm01", -1.3)
        rig.set("spine03", -0.1)
    elif kind == "bag":
        rig.side("upperarm01", side, 0.0, 0.15)
        rig.side("lowerarm01", side, -0.05)
        rig.set("spine03", 0.05, -sign * 0.2, 0.0)  # lean away from the weight
    elif kind == "shoulder":
        rig.side("upperarm01", side, -0.4, -1.4)
        rig.side("lowerarm01", side, -2.2)
        rig.set("spine03", 0.05, -sign * 0.1, 0.0)
    else:
        rig.side("upperarm01", side, -0.5, -0.5)
        rig.side("lowerarm01", side, -2.4)
        rig.set("neck01", 0.0, sign * 0.15, 0.0)
    rig.root(yaw)
    return Motion(rig.rv, np.c_[xy, np.zeros(frames)], True, 0.01 * (1 + np.cos(2 * phase)), f"carry_{kind}")


def high_steps(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Marching with high knees, as up stairs or over obstacles, slowly along a path with big arm swings."""
    t, rig = _setup(bones, frames, fps)
    xy, yaw = heading_path(rng, t, speed=rng.uniform(0.3, 0.8), radius=rng.uniform(1.5, 3.0))
    phase = 2 * np.pi * rng.uniform(0.5, 0.8) * t + rng.uniform(0, 2 * np.pi)
    left, right = np.clip(np.sin(phase), 0, None), np.clip(-np.sin(phase), 0, None)
    hip, knee = rng.uniform(1.1, 1.6), rng.uniform(1.4, 2.0)
    rig.set("upperleg01.L", -hip * left + 0.15 * right)
    rig.set("upperleg01.R", -hip * right + 0.15 * left)
    rig.set("lowerleg01.L", knee * left + 0.1)
    rig.set("lowerleg01.R", knee * right + 0.1)
    rig.set("foot.L", 0.3 * left)
    rig.set("foot.R", 0.3 * right)
    arm = rng.uniform(0.5, 1.0)
    rig.set("upperarm01.L", arm * (right - left))
    rig.set("upperarm01.R", arm * (left - right))
    rig.both("lowerarm01", -0.8)
    rig.set("spine03", rng.uniform(0.05, 0.25))
    rig.root(yaw)
    return Motion(rig.rv, np.c_[xy, np.zeros(frames)], True, np.zeros(frames), "high_steps")


def jumping_jacks(bones: dict[str, int], frames: int, fps: float, rng: np.random.Generator) -> Motion:
    """Jumping jacks: hop to open (arms overhead sideways, legs apart) and back, with a small hop each time."""
    t, rig = _setup(bones, frames, fps)
    u, _ = _cycles(rng, t, rng.uniform(0.7, 1.1))
    open_ = bump(u, 0.0, 1.0)
    rig.both("upperarm01", -0.1 * open_, -2.6 * rng.uniform(0.8, 1.0) * open_)
    rig.both("lowerarm01", -0.2)
    rig.both("upperleg01", 0.0, -0.35 * open_)
    rig.both("lowerleg01", 0.2 * np.abs(np.sin(2 * np.pi * u)))
    rig.both("foot", 0.0, 0.3 * open_)  # the soles stay flat when the legs spread
    rig.root(rng.uniform(-np.pi, np.pi) + np.zeros(frames))
    lift = rng.uniform(0.05, 0.12) * np.abs(np.sin(2 * np.pi * u))
    return Motion(rig.rv, spot(rng, frames), True, lift, "jumping_jacks")


EXTRA = {
    "lunge": lunge, "kick": kick, "throw": throw, "sprint_start": sprint_start, "inversion": inversion,
    "get_up": get_up, "crouch_reach": crouch_reach, "boxing": boxing, "dance": dance, "stretch": stretch,
    "reach_wave": reach_wave, "carry_walk": carry_walk, "high_steps": high_steps, "jumping_jacks": jumping_jacks,
}
