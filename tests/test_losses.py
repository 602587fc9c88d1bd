"""The paper's losses on hand-computed inputs: the arithmetic of each expected value is in the comment beside it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision

from train.losses import (
    PerceptualNet,
    box_prior_loss,
    constant_acceleration_loss,
    css_infonce_loss,
    dsl_all,
    dsl_loss,
    gravity_loss,
    order_loss,
    perceptual_loss,
    pixel_loss,
    reconstruction_loss,
    scale_consistency_loss,
    triplet_loss,
    weak2d_loss,
)
from tvstream.errors import CheckpointError


def t(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@pytest.fixture(scope="module")
def net() -> PerceptualNet:
    return PerceptualNet().double()


# --- reconstruction -------------------------------------------------------------------------------------


def test_pixel_loss_is_the_mean_squared_error():
    pred, target = t([[[[0.0, 0.0]]]]), t([[[[1.0, 3.0]]]])
    assert pixel_loss(pred, target).item() == pytest.approx(5.0)  # (1² + 3²) / 2


def test_pixel_loss_mask_broadcasts_over_channels():
    pred = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    target = t([[[[1.0, 3.0]], [[2.0, 4.0]]]])
    mask = t([[[[1.0, 0.0]]]])  # (B, 1, H, W): keeps the first pixel of both channels
    assert pixel_loss(pred, target, mask).item() == pytest.approx(2.5)  # (1² + 2²) / 2


def test_pixel_loss_with_an_empty_mask_is_zero_with_a_finite_gradient():
    pred = torch.rand(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    loss = pixel_loss(pred, torch.rand(2, 3, 4, 4, dtype=torch.float64), torch.zeros(2, 1, 4, 4))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_reconstruction_loss_without_net_is_the_weighted_pixel_loss():
    pred, target = t([[[[0.0, 0.0]]]]), t([[[[1.0, 3.0]]]])
    assert reconstruction_loss(None, pred, target, pixel_weight=2.0).item() == pytest.approx(10.0)  # 2 · 5


def test_perceptual_loss_is_zero_for_identical_images(net):
    images = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert perceptual_loss(net, images, images).item() == pytest.approx(0.0, abs=1e-12)


def test_perceptual_loss_ignores_brightness_and_contrast_of_the_prediction(net):
    target = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    pred = 0.5 * target + 0.2  # same structure, other mean/std: rescaled back to the target before comparing
    assert perceptual_loss(net, pred, target).item() == pytest.approx(0.0, abs=1e-9)
    other = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert perceptual_loss(net, other, target).item() > 1e-3


def test_perceptual_gradient_reaches_the_prediction_and_the_net_stays_frozen(net):
    pred = torch.full((1, 3, 32, 32), 0.5, dtype=torch.float64, requires_grad=True)  # constant: std is 0
    target = torch.rand(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    perceptual_loss(net, pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    net.train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_perceptual_net_random_init_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b = PerceptualNet(seed=0), PerceptualNet(seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.weights_source == "random(seed=0)"
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(a.stem[0].weight, PerceptualNet(seed=1).stem[0].weight)


def test_perceptual_net_loads_local_weights_and_rejects_a_wrong_file(tmp_path: Path):
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(resnet.state_dict(), path)
    loaded = PerceptualNet(path)
    assert loaded.weights_source == str(path)
    assert torch.equal(loaded.layer2[0].conv1.weight, resnet.layer2[0].conv1.weight)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="bad.pth"):
        PerceptualNet(bad)


def test_reconstruction_losses_reject_mismatched_shapes(net):
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        pixel_loss(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 9))
    with pytest.raises(ValueError, match="mask"):
        pixel_loss(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8), torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="RGB"):
        perceptual_loss(net, torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


# --- DSL ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sim", "d", "expected"),
    [
        (0.5, 5.0, 0.25),  # close: (1 − 2·5/20) · |1 − 0.5| = 0.5 · 0.5
        (0.2, 0.0, 0.8),  # d = 0: full weight, |1 − 0.2|
        (0.9, 10.0, 0.0),  # d = dmax/2: both weights are 0
        (0.5, 15.0, 0.25),  # far: min(2·15/20 − 1, 1) · |0.5| = 0.5 · 0.5
        (-0.4, 40.0, 0.4),  # beyond dmax: weight capped at 1, |−0.4|
        (0.5, -5.0, 0.25),  # a signed offset counts by its distance
    ],
)
def test_dsl_follows_the_piecewise_weights(sim: float, d: float, expected: float):
    assert dsl_loss(t([sim]), d, dmax=20.0).item() == pytest.approx(expected)


def test_dsl_averages_per_pair_distances_over_the_batch():
    loss = dsl_loss(t([0.5, 0.5, -0.4]), t([5.0, 15.0, 40.0]), dmax=20.0)
    assert loss.item() == pytest.approx(0.3)  # (0.25 + 0.25 + 0.4) / 3


def test_dsl_is_zero_for_identical_near_features():
    tv = torch.randn(4, 16, dtype=torch.float64)
    assert dsl_loss(torch.cosine_similarity(tv, tv.clone(), dim=1), 2, dmax=20.0).item() == pytest.approx(0.0)


def test_dsl_all_sums_the_near_far_and_mid_pairs():
    ref, near, far, mid = t([[1.0, 0.0]]), t([[2.0, 0.0]]), t([[3.0, 4.0]]), t([[0.0, 5.0]])
    # sims: near 1, far 3/5 = 0.6, mid 0. near: 0.8·0 = 0; far: 1·0.6; mid (d=8): (1 − 0.8)·|1 − 0| = 0.2
    assert dsl_all(ref, near, far, mid, 2, 20, 8, dmax=20.0).item() == pytest.approx(0.8)
    assert dsl_all(ref, near, far, None, 2, 20, None, dmax=20.0).item() == pytest.approx(0.6)


def test_dsl_rejects_bad_shapes_and_arguments():
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        dsl_loss(torch.zeros(3, 1), 1.0, dmax=20.0)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        dsl_loss(torch.zeros(3), torch.zeros(2), dmax=20.0)
    with pytest.raises(ValueError, match="dmax"):
        dsl_loss(torch.zeros(3), 1.0, dmax=0.0)
    with pytest.raises(ValueError, match="tv_far"):
        dsl_all(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 5), None, 1, 20, None, dmax=20.0)
    with pytest.raises(ValueError, match="d_mid"):
        dsl_all(*[torch.ones(2, 4)] * 4, 1, 20, None, dmax=20.0)


# --- box prior ------------------------------------------------------------------------------------------


def test_box_prior_penalises_the_batch_mean_scale_and_centre():
    scale = t([[0.4, 0.6], [0.6, 0.8]])  # mean (0.5, 0.7): (0² + 0.2²) / (2 · 0.1²) = 0.04 / 0.02 = 2
    centre = t([[0.1, -0.2], [0.3, 0.2]])  # mean (0.2, 0): 0.2² / 0.02 = 2
    assert box_prior_loss(scale).item() == pytest.approx(2.0)
    assert box_prior_loss(scale, centre).item() == pytest.approx(4.0)
    assert box_prior_loss(scale, scale_sigma=0.2).item() == pytest.approx(0.5)  # 0.04 / (2 · 0.04)


def test_box_prior_leaves_individual_boxes_free():
    scale = t([[0.3, 0.3], [0.7, 0.7]])  # each box is off, their mean is exactly 0.5
    centre = t([[-0.6, 0.4], [0.6, -0.4]])  # mean (0, 0)
    assert box_prior_loss(scale, centre).item() == pytest.approx(0.0)


def test_box_prior_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        box_prior_loss(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="centre"):
        box_prior_loss(torch.zeros(4, 2), torch.zeros(3, 2))


# --- gravity --------------------------------------------------------------------------------------------


def test_constant_acceleration_is_zero_for_any_parabola():
    times = t([0.0, 1.0, 2.0, 3.0])
    coeffs = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))  # a, b, c per row
    u = coeffs[:, :1] + coeffs[:, 1:2] * times + coeffs[:, 2:] * times**2  # (8, 1) and (4,) -> (8, 4)
    assert constant_acceleration_loss(u).item() == pytest.approx(0.0, abs=1e-20)
    # t²: (0 + 3·4) − (9 + 3·1) = 0
    assert constant_acceleration_loss(t([[0.0, 1.0, 4.0, 9.0]])).item() == 0.0


def test_constant_acceleration_penalises_a_changing_acceleration():
    # t³ = 0, 1, 8, 27: (0 + 3·8) − (27 + 3·1) = −6, squared 36; the second row (a line) adds 0
    assert constant_acceleration_loss(t([[0.0, 1.0, 8.0, 27.0], [1.0, 2.0, 3.0, 4.0]])).item() == pytest.approx(18.0)


def test_order_loss_is_zero_for_a_falling_box_in_affine_grid_coordinates():
    falling = t([[-0.5, -0.2, 0.1, 0.4]])  # y grows downwards: a falling diver's centre increases
    assert order_loss(falling, margin=0.01).item() == 0.0


def test_order_loss_penalises_a_rising_box():
    rising = t([[0.4, 0.1, -0.2, -0.5]])  # each step −0.3: 3 · (0.01 + 0.3) = 0.93
    assert order_loss(rising, margin=0.01).item() == pytest.approx(0.93)
    still = t([[0.0, 0.0, 0.0, 0.0]])  # each step 0: 3 · 0.1
    assert order_loss(still, margin=0.1).item() == pytest.approx(0.3)


def test_order_loss_gradient_moves_the_box_down():
    u = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    order_loss(u, margin=0.1).backward()
    # loss = Σ 0.1 − (u_{t+1} − u_t) = 0.3 + u1 − u4: descent lowers u1 and raises u4 (downwards in y-down)
    assert u.grad.tolist() == [[1.0, 0.0, 0.0, -1.0]]


def test_scale_consistency_sums_squared_steps_for_two_or_one_scales():
    two = t([[[0.5, 0.5], [0.6, 0.5], [0.6, 0.7], [0.6, 0.7]]])  # steps (0.1, 0), (0, 0.2), (0, 0): 0.01 + 0.04
    one = t([[0.5, 0.6, 0.8, 0.8]])  # steps 0.1, 0.2, 0: 0.01 + 0.04
    assert scale_consistency_loss(two).item() == pytest.approx(0.05)
    assert scale_consistency_loss(one).item() == pytest.approx(0.05)


def test_gravity_loss_returns_each_term_and_the_weighted_total():
    u = t([[0.0, 1.0, 8.0, 27.0]])  # const-acc 36; falls by ≥ 1 per step, so order 0
    scale = t([[0.5, 0.6, 0.8, 0.8]])  # 0.05
    terms = gravity_loss(u, scale, margin=0.01)
    assert (terms.const_acc.item(), terms.order.item()) == (36.0, 0.0)
    assert terms.scale.item() == pytest.approx(0.05)
    assert terms.total.item() == pytest.approx(36.05)
    weighted = gravity_loss(u, scale, const_acc_weight=0.5, scale_weight=2.0)
    assert weighted.total.item() == pytest.approx(18.1)  # 0.5 · 36 + 0 + 2 · 0.05


def test_gravity_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        gravity_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(2, 3, 2\)"):
        gravity_loss(torch.zeros(2, 4), torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="batch size"):
        gravity_loss(torch.zeros(2, 4), torch.zeros(3, 4, 2))


# --- weak 2D --------------------------------------------------------------------------------------------


def test_weak2d_is_the_mean_over_visible_coordinates():
    pred, target = t([[[0.0, 0.0], [1.0, 1.0]]]), t([[[1.0, 2.0], [1.0, 1.0]]])  # squared errors 1, 4, 0, 0
    assert weak2d_loss(pred, target, torch.tensor([[1, 1]])).item() == pytest.approx(1.25)  # 5 / 4
    assert weak2d_loss(pred, target, torch.tensor([[True, False]])).item() == pytest.approx(2.5)  # 5 / 2


def test_weak2d_ignores_frames_without_labels_even_with_nan_targets():
    pred = t([[[0.0, 0.0], [1.0, 1.0]], [[9.0, 9.0], [9.0, 9.0]]]).requires_grad_()
    target = t([[[1.0, 2.0], [1.0, 1.0]], [[math.nan, math.nan], [0.0, 0.0]]])
    visible = torch.tensor([[1, 1], [0, 0]])  # the second frame has no label
    loss = weak2d_loss(pred, target, visible)
    loss.backward()
    assert loss.item() == pytest.approx(1.25)  # the first frame alone: 5 / 4
    assert torch.isfinite(pred.grad).all() and pred.grad[1].abs().sum().item() == 0.0


def test_weak2d_with_no_visible_joint_is_exactly_zero_with_a_gradient_path():
    pred = torch.randn(3, 17, 2, requires_grad=True)
    loss = weak2d_loss(pred, torch.full((3, 17, 2), math.nan), torch.zeros(3, 17, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and loss.requires_grad and torch.equal(pred.grad, torch.zeros_like(pred))


def test_weak2d_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 17, 3\)"):
        weak2d_loss(torch.zeros(2, 17, 3), torch.zeros(2, 17, 3), torch.ones(2, 17))
    with pytest.raises(ValueError, match="visible"):
        weak2d_loss(torch.zeros(2, 17, 2), torch.zeros(2, 17, 2), torch.ones(2, 16))


# --- contrastive ----------------------------------------------------------------------------------------


def test_infonce_matches_the_softmax_of_the_positive():
    anchor, positive = t([[1.0, 0.0]]), t([[3.0, 0.0]])  # cosine 1
    one_negative = t([[[0.0, 1.0]]])  # cosine 0; τ = 1: −log(e / (e + 1)) = log(1 + e⁻¹) = log 1.367879
    assert css_infonce_loss(anchor, positive, one_negative, temperature=1.0).item() == pytest.approx(0.313262, abs=1e-6)
    two_negatives = t([[[0.0, 1.0], [-1.0, 0.0]]])  # logits 2, 0, −2: log(1 + e⁻² + e⁻⁴) = log 1.153651
    loss = css_infonce_loss(anchor, positive, two_negatives, temperature=0.5)
    assert loss.item() == pytest.approx(0.142932, abs=1e-6)


def test_triplet_loss_hinges_on_squared_distances_with_a_margin():
    anchor, positive = t([[0.0, 0.0], [0.0, 0.0]]), t([[1.0, 0.0], [1.0, 0.0]])  # ‖a − p‖² = 1
    negative = t([[2.0, 0.0], [0.5, 0.0]])  # ‖a − n‖² = 4 → max(0, 1 − 4 + 1) = 0; 0.25 → 1 − 0.25 + 1 = 1.75
    assert triplet_loss(anchor, positive, negative, margin=1.0).item() == pytest.approx(0.875)  # (0 + 1.75) / 2


def test_contrastive_losses_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        css_infonce_loss(torch.zeros(2, 4), torch.zeros(2, 5), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(2, 3, 5\)"):
        css_infonce_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="temperature"):
        css_infonce_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 3, 4), temperature=0.0)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        triplet_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(3, 4))


# --- all losses -----------------------------------------------------------------------------------------


def test_every_loss_has_finite_gradients_on_random_inputs(net):
    g = torch.Generator().manual_seed(6)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, dtype=torch.float64, generator=g).requires_grad_()

    inputs = [rand(2, 3, 32, 32), rand(2, 8), rand(2, 8), rand(2, 8), rand(2, 8), rand(2, 3, 8), rand(2, 2),
              rand(2, 2), rand(2, 4), rand(2, 4, 2), rand(2, 17, 2)]
    image, ref, near, far, mid, negatives, scale, centre, u, scales, joints = inputs
    losses = [
        reconstruction_loss(net, image, torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=g)),
        dsl_all(ref, near, far, mid, 2, 20, 8, dmax=20.0),
        box_prior_loss(scale, centre),
        gravity_loss(u, scales).total,
        weak2d_loss(joints, torch.zeros(2, 17, 2, dtype=torch.float64), torch.ones(2, 17)),
        css_infonce_loss(ref, near, negatives),
        triplet_loss(ref, near, far),
    ]
    torch.stack(losses).sum().backward()
    assert all(torch.isfinite(loss) for loss in losses)
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in inputs)


def test_box_prior_accepts_a_per_axis_target():
    from train.losses.box_prior import box_prior_loss

    scale = torch.tensor([[0.2, 0.4], [0.2, 0.2]])  # batch mean (0.2, 0.3)
    # target (0.2, 0.35): only y is off by 0.05 -> 0.05^2 / (2 * 0.1^2) = 0.125
    assert box_prior_loss(scale, target_scale=(0.2, 0.35)).item() == pytest.approx(0.125)


def test_foreground_box_of_a_filled_rectangle():
    from train.losses.foreground import foreground_box, foreground_map

    frames = torch.zeros(2, 3, 32, 32)
    frames[0, :, 8:24, 4:12] = 1  # rows 8..23, columns 4..11: x from -0.75 to -0.25, y from -0.5 to 0.5
    centre, scale, valid = foreground_box(foreground_map(frames, torch.zeros_like(frames)))
    assert centre[0].tolist() == pytest.approx([-0.5, 0.0], abs=1e-6)
    # the 2% and 98% quantiles fall on the end pixels' centres (x: columns 4 and 11, 7 pixels of 2/32 apart),
    # widened by 1/0.96 for the mass left out, plus half a pixel (1/32) at each end
    assert scale[0].tolist() == pytest.approx([7 / 32 / 0.96 + 1 / 32, 15 / 32 / 0.96 + 1 / 32], abs=1e-6)
    assert valid.tolist() == [True, False]  # the second frame equals its background


def test_foreground_box_spans_thin_limbs_not_just_the_torso():
    """A body's mass sits in the torso; the box must still reach the arms (the labeled box does)."""
    from train.losses.foreground import foreground_box, foreground_map

    frames = torch.zeros(1, 3, 64, 64)
    frames[0, :, 20:44, 28:36] = 1  # torso: 8 columns wide, 24 rows of full weight
    frames[0, :, 24:27, 12:52] = 1  # arms out to columns 12..51: three rows, a quarter of the mass
    centre, scale, _ = foreground_box(foreground_map(frames, torch.zeros_like(frames)))
    assert centre[0, 0].item() == pytest.approx(0.0, abs=1e-6)
    # the arms' half-span is 40 / 64 = 0.625; measured 0.618 (sqrt(3) x the std of the mass gives 0.414)
    assert 0.58 < scale[0, 0].item() < 0.64


def test_foreground_map_ignores_a_lighting_change_of_the_whole_venue():
    from train.losses.foreground import foreground_box, foreground_map

    background = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.4
    frames = background * 1.1  # the lights drift 10% brighter: up to 0.09 difference everywhere
    frames[0, :, 10:20, 30:34] = 0.0  # and a dark athlete
    weights = foreground_map(frames, background)
    assert weights[0, :, :30].sum().item() == pytest.approx(0.0, abs=1e-6)  # nothing but the athlete
    centre, scale, valid = foreground_box(weights)
    assert valid.item() and centre[0].tolist() == pytest.approx([(32 - 24) / 24, (15 - 24) / 24], abs=0.02)


def test_a_distant_diver_is_foreground():
    """A 10 m platform diver: 4 x 10 pixels of a 128 x 128 detector frame, 0.2 off the pool (dive preset data)."""
    from train.losses.foreground import foreground_box, foreground_map

    frames = torch.zeros(1, 3, 128, 128)
    frames[0, :, 20:30, 60:64] = 0.2
    centre, scale, valid = foreground_box(foreground_map(frames, torch.zeros_like(frames)))
    assert valid.item()  # mass 40 x 0.12 / 128^2 = 2.9e-4 of the frame
    assert centre[0].tolist() == pytest.approx([(62 - 64) / 64, (25 - 64) / 64], abs=1e-6)


def test_foreground_map_ignores_differences_below_the_threshold():
    from train.losses.foreground import foreground_map

    frames = torch.full((1, 3, 4, 4), 0.05)
    frames[0, :, 0, 0] = 0.58  # a difference of 0.58 -> weight 0.5
    weights = foreground_map(frames, torch.zeros_like(frames), threshold=0.08)
    assert weights[0, 0, 0].item() == pytest.approx(0.5)
    assert weights.sum().item() == pytest.approx(0.5)  # 0.05 < 0.08 everywhere else


def test_foreground_box_loss_pulls_the_box_to_the_foreground():
    from train.losses.foreground import foreground_box_loss

    frames = torch.zeros(1, 3, 32, 32)
    frames[0, :, 8:24, 4:12] = 1
    bg = torch.zeros_like(frames)
    target_scale = torch.tensor([[7 / 32 / 0.96 + 1 / 32, 15 / 32 / 0.96 + 1 / 32]])  # as in the test above
    centre = torch.tensor([[-0.5, 0.0]], requires_grad=True)
    assert foreground_box_loss(target_scale, centre, frames, bg).item() == pytest.approx(0.0, abs=1e-6)
    centre = torch.tensor([[0.5, 0.0]], requires_grad=True)  # 1.0 off in x: Huber(1, delta 0.1) = 0.1 * 0.95
    loss = foreground_box_loss(target_scale, centre, frames, bg)
    assert loss.item() == pytest.approx(0.1 * (1.0 - 0.05) / 0.1, rel=1e-5)
    loss.backward()
    assert centre.grad[0, 0].item() > 0 and centre.grad[0, 1].item() == 0  # descent moves the box left
    empty = foreground_box_loss(target_scale, centre, bg, bg)  # no foreground anywhere: nothing to learn
    assert empty.item() == 0.0


def test_foreground_box_ignores_residue_spread_over_the_frame():
    """Ski backgrounds leave faint edges all over the frame: a fifth of the mass outside the skier."""
    from train.losses.foreground import foreground_box

    weights = torch.zeros(1, 128, 128)
    weights[0, 40:80, 56:68] = 0.5  # the skier: 12 x 40 pixels, mass 240
    g = torch.Generator().manual_seed(0)
    rows, cols = torch.randint(0, 128, (2, 600), generator=g)
    weights[0, rows, cols] += 0.1  # single-pixel residue anywhere: mass 60, a fifth of the total
    centre, scale, valid = foreground_box(weights)
    assert valid.item()
    assert centre[0].tolist() == pytest.approx([(62 - 64) / 64, (60 - 64) / 64], abs=0.03)
    # the skier's half-sizes are 6/64 and 20/64; the whole map's quantile span would be most of the frame
    assert scale[0].tolist() == pytest.approx([6 / 64, 20 / 64], abs=0.04)
