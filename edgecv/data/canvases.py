"""Digits pasted on larger canvases (seeded): the embedded default of detection (boxes) and segmentation (masks).

Each digit of scikit-learn's digits is upsampled to a random size and pasted, without overlap, at a random place
on a black canvas; its box, class and pixel mask (its stroke pixels) are kept.

Example::

    canvases = paste_digits(count=4, side=64, seed=0)
    canvases.images.shape      # (4, 3, 64, 64) uint8
    canvases.boxes[0]          # (n, 4) xyxy pixels of the digits on canvas 0
    canvases.masks[0]          # (64, 64) int64: 0 background, k + 1 where digit k's strokes are
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from edgecv.data.digits import load_digits_images

STROKE = 64
"""A pasted digit's pixels brighter than this (of 255) are its mask; the rest stays background."""


@dataclass
class DigitCanvases:
    """Canvases, their digits' boxes and classes, and per-pixel class maps (0 background, digit k is k + 1)."""

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    masks: torch.Tensor
    classes: list[str]


def _overlaps(box: list[int], placed: list[list[int]]) -> bool:
    return any(box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in placed)


def paste_digits(count: int = 600, side: int = 128, seed: int = 0, scale: tuple[int, int] = (24, 56),
                 per_image: tuple[int, int] = (1, 3)) -> DigitCanvases:
    """``count`` canvases of ``side`` pixels, each with 1-3 non-overlapping digits of ``scale`` pixels."""
    digits, digit_labels, names = load_digits_images(8)
    rng = np.random.default_rng(seed)
    canvases = torch.zeros(count, 3, side, side, dtype=torch.uint8)
    masks = torch.zeros(count, side, side, dtype=torch.int64)
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
            masks[index, y : y + size, x : x + size][patch[0] > STROKE] = int(digit_labels[pick]) + 1
            placed.append(box)
            labels.append(int(digit_labels[pick]))
        all_boxes.append(torch.tensor(placed, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(labels, dtype=torch.int64))
    return DigitCanvases(canvases, all_boxes, all_labels, masks, names)
