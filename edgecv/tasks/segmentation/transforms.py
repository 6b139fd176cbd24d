"""Segmentation preprocessing: the image through the model's Preprocessing, its label map resized by nearest
neighbour to the same size (class indices are never blended).

Example::

    x, y = to_inputs(image, label, Preprocessing(size=(96, 128)))
    x.shape, y.shape     # (3, 96, 128) float32, (96, 128) int64
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from edgecv.artifacts import Preprocessing
from edgecv.data.transforms import to_model_input

EVAL_PIXELS = 1 << 22
"""Input pixels per evaluation batch at most (24 images of 360x480, 256 of 128x128)."""


def resize_label(label: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An (H, W) label map at ``size`` by nearest neighbour (``nearest-exact``: pixel centres, as PIL does)."""
    if tuple(label.shape[-2:]) == tuple(size):
        return label.long()
    return F.interpolate(label[None, None].float(), size=tuple(size), mode="nearest-exact")[0, 0].long()


def to_inputs(image: torch.Tensor, label: torch.Tensor, pre: Preprocessing) -> tuple[torch.Tensor, torch.Tensor]:
    """The model input (resize, channel order, scale, mean/std of ``pre``) and the label map at the same size."""
    return to_model_input(image, pre), resize_label(label, (int(pre.size[0]), int(pre.size[1])))


CROP_MULTIPLE = 32
"""Crop sides are multiples of this: a network that halves its maps 5 times (and concatenates skips) needs it;
half of CamVid's 360x480 is 180x240, which ESPNet (stride 8) cannot concatenate back, so it trains on 160x224."""


def crop_side(side: int) -> int:
    """Half of ``side`` rounded down to a multiple of CROP_MULTIPLE (at least that, at most ``side``)."""
    return min(side, max(CROP_MULTIPLE, side // 2 // CROP_MULTIPLE * CROP_MULTIPLE))


def half_crop(image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random window of about half the height and width (crop_side) from a model input (C, H, W) and its
    label map."""
    h, w = label.shape[-2:]
    ch, cw = crop_side(h), crop_side(w)
    top, left = int(torch.randint(0, h - ch + 1, ())), int(torch.randint(0, w - cw + 1, ()))
    window = (slice(top, top + ch), slice(left, left + cw))
    return image[(slice(None), *window)], label[window]


class SegmentationInputs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A segmentation dataset through the model's preprocessing; any augment flips image and label together,
    ``half-crop-flip`` also crops both to half the input's height and width (after resizing to the input)."""

    def __init__(self, dataset: Dataset[Any], pre: Preprocessing, augment: str = "none") -> None:
        self.dataset, self.pre, self.augment = dataset, pre, augment

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.dataset[index]
        if self.augment != "none" and torch.rand(()) < 0.5:
            image, label = image.flip(-1), label.flip(-1)
        image, label = to_inputs(image, label, self.pre)
        return half_crop(image, label) if self.augment == "half-crop-flip" else (image, label)


def segmentation_loader(
    dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False, augment: str = "none",
    seed: int = 0, workers: int = 0,
) -> DataLoader[Any]:
    """Batches ``(images (N, 3, H, W) float32, label maps (N, H, W) int64)``; seeded shuffling.

    Without shuffling (evaluation) a batch holds at most EVAL_PIXELS input pixels: logits of large images at 256 a
    batch would take gigabytes.
    """
    if not shuffle:
        batch_size = max(1, min(batch_size, EVAL_PIXELS // (int(pre.size[0]) * int(pre.size[1]))))
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(SegmentationInputs(dataset, pre, augment), batch_size=batch_size, shuffle=shuffle,
                      generator=generator, num_workers=workers)
