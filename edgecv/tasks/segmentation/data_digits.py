"""The embedded segmentation default: scikit-learn's digits pasted on canvases, with their pixel masks (seeded).

Classes are ``background`` (0) and the ten digits (digit k is class k + 1); a digit's stroke pixels carry its
class, everything else is background. The pasting is :func:`edgecv.data.canvases.paste_digits`, shared with
detection.

Example::

    dataset = digit_masks(count=200, side=96, seed=0)
    image, mask = dataset[0]        # (3, 96, 96) uint8, (96, 96) int64 in 0..10
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from edgecv.data.canvases import paste_digits

BACKGROUND = "background"


class DigitMasks(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Canvases and their class maps held in memory; ``targets`` is each canvas's first digit (stratified splits)."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, first: list[int], classes: list[str]) -> None:
        self.images, self.masks, self.classes, self.targets = images, masks, classes, first

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index].clone()


def digit_masks(count: int = 600, side: int = 128, seed: int = 0) -> DigitMasks:
    """``count`` canvases of ``side`` pixels with 1-3 digits each, and their class maps."""
    pasted = paste_digits(count, side, seed)
    first = [int(lab[0]) if len(lab) else -1 for lab in pasted.labels]
    return DigitMasks(pasted.images, pasted.masks, first, [BACKGROUND, *pasted.classes])
