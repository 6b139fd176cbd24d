"""``augment: half-crop-flip``: image and label map cropped to the same window of half the input's size."""

from __future__ import annotations

import torch

from edgecv.artifacts import Preprocessing
from edgecv.tasks.segmentation.transforms import SegmentationInputs, half_crop


def test_half_crop_takes_the_same_window_from_image_and_label() -> None:
    torch.manual_seed(0)
    grid = torch.arange(12 * 16).view(12, 16)
    image, label = half_crop(torch.stack([grid.float()] * 3), grid)
    assert image.shape == (3, 6, 8) and label.shape == (6, 8)
    assert torch.equal(image[0].long(), label)  # the same pixels


def test_half_crop_flip_trains_on_quarters_and_eval_stays_whole() -> None:
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 24, 32), dtype=torch.uint8)
    label = torch.randint(0, 4, (24, 32), dtype=torch.int16)
    pre = Preprocessing(size=(24, 32))
    x, y = SegmentationInputs([(image, label)], pre, "half-crop-flip")[0]
    assert x.shape == (3, 12, 16) and y.shape == (12, 16)
    x, y = SegmentationInputs([(image, label)], pre, "none")[0]
    assert x.shape == (3, 24, 32) and y.shape == (24, 32)
