"""Person-free crops for the confidence's negatives: procedural fills and squares of person-free photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from train.posenet.empty import empty_crops, fills


def _photos(folder: Path) -> Path:
    folder.mkdir()
    for name, colour in (("red.png", (255, 0, 0)), ("blue.jpg", (0, 0, 255))):
        Image.fromarray(np.full((48, 64, 3), colour, np.uint8)).save(folder / name, quality=100)
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_half_the_crops_are_squares_of_the_photos_and_the_same_generator_draws_them_again(tmp_path: Path):
    folder = _photos(tmp_path / "plates")
    crops = empty_crops(5, 32, torch.Generator().manual_seed(3), str(folder))
    assert crops.shape == (5, 3, 32, 32) and 0 <= float(crops.min()) and float(crops.max()) <= 1
    colours = crops[3:].mean(dim=(2, 3))  # the last 5 // 2 are photo squares: one flat colour each
    for c in colours:
        assert torch.allclose(c, torch.tensor([1.0, 0, 0]), atol=0.02) or torch.allclose(c, torch.tensor([0, 0, 1.0]),
                                                                                        atol=0.02)
    assert float(crops[3:].std(dim=(2, 3)).max()) < 0.02
    torch.testing.assert_close(crops, empty_crops(5, 32, torch.Generator().manual_seed(3), str(folder)))
    assert not torch.equal(crops, empty_crops(5, 32, torch.Generator().manual_seed(4), str(folder)))


def test_fills_are_a_colour_with_a_gentle_ramp_and_without_photos_every_crop_is_one():
    crops = empty_crops(64, 48, torch.Generator().manual_seed(0))
    torch.testing.assert_close(crops, fills(64, 48, torch.Generator().manual_seed(0)))
    # across a crop the level moves by at most the ramp's swing (0.3 each way) plus the noise
    swing = crops.amax(dim=(2, 3)) - crops.amin(dim=(2, 3))
    assert float(swing.max()) < 0.3 + 8 * 0.05 and float(crops.mean(dim=(1, 2, 3)).std()) > 0.1  # colours vary
    assert empty_crops(0, 48, torch.Generator()).shape == (0, 3, 48, 48)


def test_a_folder_without_photos_is_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no person-free photos"):
        empty_crops(2, 32, torch.Generator(), str(tmp_path))
