"""Procedural motion families: every one moves the body, stays finite, differs per take; the "mixed" scenario."""

import types

import numpy as np
import pytest

from train.synth.motions import EVERYDAY, PROCEDURAL
from train.synth.motions_extra import EXTRA
from train.synth.rig import keyframes, perturb

FPS = 25.0
FRAMES = 50  # two seconds


@pytest.fixture(scope="module")
def bones():
    pytest.importorskip("anny")
    from train.synth.body import BodyModel

    return BodyModel().bone_index


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("family", sorted(EXTRA))
def test_new_family_moves_the_body_with_finite_angles(bones, family, seed):
    motion = PROCEDURAL[family](bones, FRAMES, FPS, np.random.default_rng(seed))
    assert motion.rotvecs.shape == (FRAMES, len(bones), 3)
    assert motion.position.shape == (FRAMES, 3) and motion.lift.shape == (FRAMES,)
    assert np.isfinite(motion.rotvecs).all() and np.isfinite(motion.position).all() and np.isfinite(motion.lift).all()
    # joint angles (root excluded) travel well beyond the few-degree noise: at least 20 degrees somewhere
    swing = np.ptp(motion.rotvecs[:, 1:], axis=0).max()
    assert swing > np.radians(20), f"{family}: the body barely moves ({np.degrees(swing):.1f} degrees)"
    # no joint turns more than a full turn from rest: plausible ranges
    assert np.linalg.norm(motion.rotvecs[:, 1:], axis=-1).max() < np.pi


@pytest.mark.parametrize("family", sorted(EXTRA))
def test_two_takes_of_a_family_differ(bones, family):
    a = PROCEDURAL[family](bones, FRAMES, FPS, np.random.default_rng(10))
    b = PROCEDURAL[family](bones, FRAMES, FPS, np.random.default_rng(11))
    assert np.abs(a.rotvecs - b.rotvecs).max() > 0.1


def test_perturbation_is_a_few_degrees_and_smooth():
    bone_index = {"root": 0, "spine03": 1, "upperarm01.L": 2}
    rv = np.zeros((100, 3, 3))
    out = perturb(rv, bone_index, FPS, np.random.default_rng(0), degrees=4.0)
    assert np.abs(out[:, 0]).max() == 0  # the root (path and facing) is left alone
    assert 0.5 < np.degrees(np.abs(out[:, 1:]).max()) <= 4.0
    assert np.degrees(np.abs(np.diff(out, axis=0)).max()) < 1.5  # under 1.5 degrees per frame at 25 fps
    assert not np.allclose(out[:50], out[50:])  # frames do not repeat


def test_keyframes_ease_between_values_and_hold_outside():
    u = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(keyframes(u, [0.0, 0.5, 1.0], [0.0, 2.0, 1.0]), [0, 0, 1.0, 2.0, 1.0, 1.0])


def test_mixed_scenario_draws_from_more_than_15_families(monkeypatch):
    from train.synth import generate
    from train.synth.scenarios import SCENARIOS

    mixed = SCENARIOS["mixed"]
    assert len(set(mixed.motions)) > 15 and mixed.rig == "studio" and mixed.outfit == "casual"
    assert set(SCENARIOS["studio"].motions) <= set(mixed.motions) and {"dive", "ski"}.isdisjoint(mixed.motions)
    assert set(mixed.motions) == set(EVERYDAY) and all(name in PROCEDURAL for name in mixed.motions)
    drawn = []

    def recorder(name):
        def call(*args):
            drawn.append(name)
            return PROCEDURAL[name](*args)
        return call

    monkeypatch.setattr(generate, "PROCEDURAL", {name: recorder(name) for name in PROCEDURAL})
    cfg = generate.SynthConfig(scenario="mixed", seconds=0.2)
    body = types.SimpleNamespace(bone_index=_all_bones())
    rng = np.random.default_rng(0)
    for _ in range(200):
        motion = generate._motion(mixed, [], body, cfg, rng)
        assert np.isfinite(motion.rotvecs).all()
    assert len(set(drawn)) > 15, sorted(set(drawn))


def _all_bones() -> dict[str, int]:
    """Every bone name the procedural motions set (anny's names), without loading anny."""
    names = ["root", "spine04", "spine03", "spine02", "spine01", "neck01", "head"]
    for side in "LR":
        names += [f"{b}.{side}" for b in ("clavicle", "upperarm01", "lowerarm01", "wrist", "upperleg01",
                                          "lowerleg01", "foot")]
    return {n: i for i, n in enumerate(names)}
