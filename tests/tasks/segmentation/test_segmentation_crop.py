"""``augment: half-crop-flip``: image and label map cropped to the same window of half the input's size (rounded
down to a multiple of 32, as a network downsampling 5 times needs)."""

from __future__ import annotations

import torch

from edgecv.artifacts import Preprocessing
from edgecv.tasks.segmentation.transforms import SegmentationInputs, half_crop


def test_half_crop_takes_the_same_window_from_image_and_label() -> None:
    torch.manual_seed(0)
    grid = torch.arange(72 * 100).view(72, 100)
    image, label = half_crop(torch.stack([grid.float()] * 3), grid)
    assert image.shape == (3, 32, 32) and label.shape == (32, 32)  # halves rounded down to 32s
    assert torch.equal(image[0].long(), label)  # the same pixels


def test_half_crop_flip_trains_on_quarters_and_eval_stays_whole() -> None:
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 128, 96), dtype=torch.uint8)
    label = torch.randint(0, 4, (128, 96), dtype=torch.int16)
    pre = Preprocessing(size=(128, 96))
    x, y = SegmentationInputs([(image, label)], pre, "half-crop-flip")[0]
    assert x.shape == (3, 64, 32) and y.shape == (64, 32)
    x, y = SegmentationInputs([(image, label)], pre, "none")[0]
    assert x.shape == (3, 128, 96) and y.shape == (128, 96)
