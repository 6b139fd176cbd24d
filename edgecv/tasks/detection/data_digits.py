"""The embedded detection default: scikit-learn's digits pasted onto larger canvases, with their boxes (seeded;
the pasting is :func:`edgecv.data.canvases.paste_digits`, shared with segmentation).

Example::

    dataset = digit_canvases(count=600, side=128, seed=0)
    image, target = dataset[0]        # (3, 128, 128) uint8, {"boxes": (n, 4) xyxy, "labels": (n,)}
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from edgecv.data.canvases import paste_digits


class DigitCanvases(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """Canvases held in memory; ``targets`` is each canvas's first digit (for stratified splits)."""

    def __init__(self, images: torch.Tensor, boxes: list[torch.Tensor], labels: list[torch.Tensor],
                 classes: list[str]) -> None:
        self.images, self.boxes, self.labels, self.classes = images, boxes, labels, classes
        self.targets = [int(lab[0]) for lab in labels]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.images[index], {"boxes": self.boxes[index].clone(), "labels": self.labels[index].clone()}


def digit_canvases(count: int = 600, side: int = 128, seed: int = 0, scale: tuple[int, int] = (24, 56),
                   per_image: tuple[int, int] = (1, 3)) -> DigitCanvases:
    """``count`` canvases of ``side`` pixels, each with 1-3 non-overlapping digits of ``scale`` pixels."""
    pasted = paste_digits(count, side, seed, scale, per_image)
    return DigitCanvases(pasted.images, pasted.boxes, pasted.labels, pasted.classes)
