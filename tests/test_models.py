"""The self-supervised network's parts: crops and pastes land where the box says; shapes and inits."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from train.models.config import MODEL_PRESETS, ModelConfig
from train.models.detector import Detector
from train.models.spatial import base_grid, compose, crop, paste, smooth_window
from train.models.ssl_model import SSLModel, colour_jitter


def test_crop_matches_affine_grid():
    frames = torch.rand(2, 3, 40, 60)
    scale = torch.tensor([[0.5, 0.25], [0.3, 0.6]])
    centre = torch.tensor([[0.1, -0.2], [-0.5, 0.3]])
    theta = torch.zeros(2, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale[:, 0], scale[:, 1]
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, (2, 3, 16, 16), align_corners=False)
    expected = F.grid_sample(frames, grid, align_corners=False)
    torch.testing.assert_close(crop(frames, scale, centre, 16), expected)


def test_crop_of_a_square_box_finds_the_square():
    frames = torch.zeros(1, 3, 64, 64)
    frames[:, :, 16:32, 32:48] = 1.0  # x in [32, 48), y in [16, 32): centre (40, 24) px
    # box centre in normalised coordinates: (40/64*2-1, 24/64*2-1) = (0.25, -0.25); half-size 8/32 = 0.25
    out = crop(frames, torch.tensor([[0.25, 0.25]]), torch.tensor([[0.25, -0.25]]), 16)
    assert out.min() > 0.99  # the crop is all square


def test_paste_puts_the_crop_back_where_it_came_from():
    crop_rgb = torch.ones(1, 3, 16, 16)
    logit = torch.full((1, 1, 16, 16), 20.0)  # mask ~1 inside the crop
    rgb, mask = paste(crop_rgb, logit, torch.tensor([[0.25, 0.25]]), torch.tensor([[0.25, -0.25]]), (64, 64))
    # the centre of the box is covered, far outside is not
    assert mask[0, 0, 24, 40] > 0.9 and rgb[0, 0, 24, 40] > 0.99
    assert mask[0, 0, 50, 10] == 0 and mask[0, 0, 24, 52] == 0
    recon = compose(rgb, mask, torch.zeros(1, 3, 64, 64))
    assert recon[0, :, 24, 40].min() > 0.9 and recon[0, :, 50, 10].max() == 0


def test_smooth_window_is_one_at_the_centre_and_zero_on_the_border():
    pts = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.999, 0.0], [1.2, 0.3]])
    w = smooth_window(pts)
    assert w[0] == pytest.approx(1.0, rel=1e-5) and 0 < w[1] < 1 and w[2] < 1e-6 and w[3] == 0
    # at (0.5, 0): r = sqrt(0.5^4) = 0.25, so w = exp(1 - 1/0.75) = exp(-1/3)
    assert w[1] == pytest.approx(torch.exp(torch.tensor(-1 / 3)).item(), rel=1e-4)


def test_detector_starts_from_one_fixed_box():
    det = Detector(18, 8)
    scale, centre = det(torch.randn(3, 3, 32, 32))
    expected = 0.2 + 0.8 * torch.sigmoid(torch.tensor(0.5))
    torch.testing.assert_close(scale, torch.full((3, 2), expected.item()))
    torch.testing.assert_close(centre, torch.zeros(3, 2))


def test_the_dive_preset_lets_boxes_shrink_to_a_small_diver():
    from train.ssl.config import config_for
    from train.ssl.fit import model_config

    det = Detector(18, 8, min_scale=0.02)
    with torch.no_grad():
        det.head.bias.copy_(torch.tensor([-30.0, -30.0, 0.0, 0.0]))  # the smallest box the head can ask for
    scale, _ = det(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(scale, torch.full((2, 2), 0.02))
    assert model_config(config_for("dive")).min_box == 0.02  # a 7%-wide diver fits; the default floor is 40%
    assert SSLModel(model_config(config_for("dive"))).detector.min_scale == 0.02
    assert model_config(config_for("studio")).min_box == 0.2


def test_base_grid_holds_pixel_centres():
    g = base_grid(2, 4, torch.zeros(1))
    torch.testing.assert_close(g[0, 0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(g[0, :, 0, 1], torch.tensor([-0.5, 0.5]))


@pytest.mark.parametrize("split, use_stn, use_decoder", [(True, True, True), (False, True, True),
                                                         (False, False, False)])
def test_ssl_model_outputs_have_the_documented_shapes(split, use_stn, use_decoder):
    from dataclasses import replace

    cfg = replace(MODEL_PRESETS["tiny"], split=split, use_stn=use_stn, use_decoder=use_decoder)
    model = SSLModel(cfg)
    frames = torch.randint(0, 255, (2, 3, 64, 64, 3), dtype=torch.uint8)
    out = model(frames, frames, torch.Generator().manual_seed(0))
    assert out.tv.shape == (2, 3, cfg.latent_dim) and out.scale.shape == (2, 3, 2)
    assert out.target.shape == (2, 3, 3, 32, 32) and out.crop.shape == (2, 3, 3, 32, 32)
    assert (out.recon is not None) == use_decoder and (out.ti is not None) == split
    if not use_stn:
        torch.testing.assert_close(out.scale, torch.ones(2, 3, 2))


def test_time_invariant_features_are_swapped_within_a_video():
    torch.manual_seed(0)
    model = SSLModel(MODEL_PRESETS["tiny"]).eval()
    seen = []
    model.decoder.register_forward_hook(lambda mod, args, out: seen.append(args[1]))
    frames = torch.randint(0, 255, (2, 3, 64, 64, 3), dtype=torch.uint8)
    out = model(frames)
    ti_used = seen[0].view(2, 3, -1)
    torch.testing.assert_close(ti_used[:, 0], out.ti[:, 2])  # frame 0 decodes with frame 2's appearance
    torch.testing.assert_close(ti_used[:, 1], out.ti[:, 0])


def test_far_swap_never_passes_appearance_between_the_reference_and_its_near_frame():
    torch.manual_seed(0)
    model = SSLModel(replace(MODEL_PRESETS["tiny"], ti_swap="far")).eval()
    seen = []
    model.decoder.register_forward_hook(lambda mod, args, out: seen.append(args[1]))
    out = model(torch.randint(0, 255, (2, 4, 64, 64, 3), dtype=torch.uint8))  # ref, near, far, intermediate
    ti_used = seen[0].view(2, 4, -1)
    for frame, source in enumerate((2, 2, 0, 0)):
        torch.testing.assert_close(ti_used[:, frame], out.ti[:, source])
    with pytest.raises(ValueError, match="ti_swap"):
        ModelConfig(ti_swap="near")


def test_colour_jitter_changes_colour_not_layout():
    x = torch.rand(4, 3, 8, 8)
    y = colour_jitter(x, torch.Generator().manual_seed(1))
    assert not torch.allclose(x, y) and y.min() >= 0 and y.max() <= 1
    # per-image correlation stays high: only colours moved
    for a, b in zip(x.flatten(1), y.flatten(1)):
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.5


def test_model_config_refuses_bad_sizes_and_round_trips():
    with pytest.raises(ValueError, match="multiple of 8"):
        ModelConfig(crop_size=60)
    cfg = MODEL_PRESETS["paper"]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_box_iou_on_hand_made_boxes():
    import numpy as np

    from train.ssl.box_eval import box_iou, boxes_in_pixels

    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(box_iou(a, b), [1.0, 50 / 150, 0.0])
    # a centred box of half the frame in a 100x200 (H x W) frame: x 50..150, y 25..75
    px = boxes_in_pixels(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.0, 0.0]]), (100, 200))
    np.testing.assert_allclose(px, [[50, 25, 150, 75]])
