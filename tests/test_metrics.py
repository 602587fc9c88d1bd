"""Pose metrics against answers known by construction."""

import numpy as np
import pytest

from train.metrics import mpjpe, n_mpjpe, p_mpjpe, per_group, per_joint
from train.synth.rotations import rotvec_to_matrix


@pytest.fixture
def poses():
    rng = np.random.default_rng(0)
    return rng.normal(0, 300, (5, 17, 3))  # mm


def test_mpjpe_is_zero_for_identical_poses_and_the_offset_for_a_shift(poses):
    np.testing.assert_allclose(mpjpe(poses, poses), 0)
    shifted = poses + np.array([30.0, 40.0, 0.0])  # every joint 50 mm away (3-4-5)
    np.testing.assert_allclose(mpjpe(shifted, poses), 50.0)


def test_n_mpjpe_forgives_scale_only(poses):
    np.testing.assert_allclose(n_mpjpe(poses * 1.7, poses), 0, atol=1e-9)
    assert mpjpe(poses * 1.7, poses).min() > 10
    R = rotvec_to_matrix(np.array([0, 0, 0.5]))
    assert n_mpjpe(poses @ R.T, poses).min() > 1  # a rotation is not forgiven


def test_p_mpjpe_is_zero_for_a_rotated_scaled_translated_copy(poses):
    R = rotvec_to_matrix(np.array([0.3, -1.2, 0.7]))
    moved = 0.6 * poses @ R.T + np.array([100.0, -50.0, 20.0])
    np.testing.assert_allclose(p_mpjpe(moved, poses), 0, atol=1e-8)
    assert mpjpe(moved, poses).min() > 50


def test_p_mpjpe_does_not_forgive_a_mirror_image(poses):
    mirrored = poses * np.array([-1.0, 1.0, 1.0])  # a reflection, not a rotation
    assert p_mpjpe(mirrored, poses).min() > 1.0


def test_p_mpjpe_never_exceeds_mpjpe(poses):
    noisy = poses + np.random.default_rng(1).normal(0, 20, poses.shape)
    assert (p_mpjpe(noisy, poses) <= mpjpe(noisy, poses) + 1e-9).all()
    assert (n_mpjpe(noisy, poses) <= mpjpe(noisy, poses) + 1e-9).all()


def test_breakdowns_by_joint_and_group():
    target = np.zeros((2, 3, 3))
    pred = target.copy()
    pred[0, 1, 0] = 30.0  # sample 0 joint 1 off by 30 mm
    pred[1, 2, 2] = 60.0  # sample 1 joint 2 off by 60 mm
    np.testing.assert_allclose(per_joint(pred, target), [0, 15, 30])
    errs = mpjpe(pred, target)  # [10, 20]
    assert per_group(errs, ["walk", "squat"]) == {"squat": 20.0, "walk": 10.0}


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(N, K, 3\)"):
        mpjpe(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)))
    with pytest.raises(ValueError, match="must match"):
        per_group(np.zeros(3), ["a"])


@pytest.mark.parametrize("kind", ["mlp", "mlp_resnet"])
def test_regressors_fit_a_linear_map_from_features(kind):
    import torch

    from train.pose.regressors import PoseRegressor, RegressorConfig

    torch.manual_seed(0)
    cfg = RegressorConfig(kind=kind, in_dim=16, joints=4, hidden=64, layers=2, dropout=0.0)
    model = PoseRegressor(cfg)
    x = torch.randn(64, 16)
    w3, w2 = torch.randn(16, 12), torch.randn(16, 8)
    y3, y2 = (x @ w3).view(64, 4, 3), (x @ w2).view(64, 4, 2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        p3, p2 = model(x)
        loss = ((p3 - y3) ** 2).mean() + ((p2 - y2) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        model(torch.zeros(2, 15))
