"""The embedded detection default: scikit-learn's digits pasted onto larger canvases, with their boxes (seeded).

Example::

    dataset = digit_canvases(count=600, side=128, seed=0)
    image, target = dataset[0]        # (3, 128, 128) uint8, {"boxes": (n, 4) xyxy, "labels": (n,)}
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from edgecv.data.digits import load_digits_images


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


def _overlaps(box: list[int], placed: list[list[int]]) -> bool:
    return any(box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in placed)


def digit_canvases(count: int = 600, side: int = 128, seed: int = 0, scale: tuple[int, int] = (24, 56),
                   per_image: tuple[int, int] = (1, 3)) -> DigitCanvases:
    """``count`` canvases of ``side`` pixels, each with 1-3 non-overlapping digits of ``scale`` pixels."""
    digits, digit_labels, names = load_digits_images(8)
    rng = np.random.default_rng(seed)
    canvases = torch.zeros(count, 3, side, side, dtype=torch.uint8)
    all_boxes, all_labels = [], []
    for index in range(count):
        placed: list[list[int]] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(per_image[0], per_image[1] + 1))):
            for _attempt in range(20):
                size = int(rng.integers(scale[0], scale[1] + 1))
                x, y = (int(v) for v in rng.integers(0, side - size + 1, size=2))
                box = [x, y, x + size, y + size]
                if not _overlaps(box, placed):
                    break
            else:
                continue
            pick = int(rng.integers(len(digits)))
            patch = F.interpolate(digits[pick : pick + 1].float(), size=(size, size), mode="bilinear",
                                  align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
            canvases[index, :, y : y + size, x : x + size] = patch
            placed.append(box)
            labels.append(int(digit_labels[pick]))
        all_boxes.append(torch.tensor(placed, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(labels, dtype=torch.int64))
    return DigitCanvases(canvases, all_boxes, all_labels, names)
