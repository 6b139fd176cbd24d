"""Detection preprocessing: an image and its boxes to the model's input size, by plain resize or letterbox.

Example::

    x, boxes = resize_with_boxes(image, boxes, Preprocessing(size=(128, 128), resize="letterbox"))
    back = unletterbox(boxes, image.shape[-2:], (128, 128))   # the original pixels again
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from edgecv.artifacts import Preprocessing
from edgecv.deploy.box_geometry import letterbox_geometry

LETTERBOX_FILL = 114
"""Gray padding of letterboxed images (what YOLO tools use)."""


def unletterbox(boxes: torch.Tensor, source: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """Boxes in letterboxed input pixels back to the original image's pixels."""
    scale, left, top = letterbox_geometry(source, target)
    offset = torch.tensor([left, top, left, top], dtype=boxes.dtype)
    return (boxes - offset) / scale


def resize_with_boxes(
    image: torch.Tensor, boxes: torch.Tensor, pre: Preprocessing
) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalized model input (float CHW) and the boxes in its pixels."""
    x = image.float()
    source = (int(x.shape[-2]), int(x.shape[-1]))
    target = (int(pre.size[0]), int(pre.size[1]))
    if pre.resize == "letterbox":
        scale, left, top = letterbox_geometry(source, target)
        h, w = round(source[0] * scale), round(source[1] * scale)
        if (h, w) != source:
            x = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
        canvas = torch.full((x.shape[0], *target), float(LETTERBOX_FILL))
        canvas[:, top : top + h, left : left + w] = x
        x = canvas
        boxes = boxes * scale + torch.tensor([left, top, left, top], dtype=boxes.dtype)
    elif source != target:
        x = F.interpolate(x[None], size=target, mode="bilinear", align_corners=False, antialias=True)[0]
        sy, sx = target[0] / source[0], target[1] / source[1]
        boxes = boxes * torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype)
    if pre.channel_order == "BGR":
        x = x.flip(0)
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(-1, 1, 1)
    return (x * pre.scale - mean) / std, boxes


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A horizontal flip of an image and its xyxy boxes."""
    width = image.shape[-1]
    return image.flip(-1), torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)


class DetectionInputs(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """A detection dataset through the model's preprocessing (flip augmentation on request), boxes kept in step."""

    def __init__(self, dataset: Dataset[Any], pre: Preprocessing, augment: str = "none") -> None:
        self.dataset, self.pre, self.augment = dataset, pre, augment

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image, target = self.dataset[index]
        boxes = target["boxes"].float().reshape(-1, 4)
        if self.augment == "crop-flip" and torch.rand(()) < 0.5:
            image, boxes = hflip(image, boxes)
        x, boxes = resize_with_boxes(image, boxes, self.pre)
        return x, {"boxes": boxes, "labels": target["labels"].long()}


def collate(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stacked images and the list of per-image target dicts."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def detection_loader(
    dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False, augment: str = "none",
    seed: int = 0, workers: int = 0,
) -> DataLoader[Any]:
    """Batches ``(images (N, 3, H, W), [targets])``; seeded shuffling."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(DetectionInputs(dataset, pre, augment), batch_size=batch_size, shuffle=shuffle,
                      generator=generator, num_workers=workers, collate_fn=collate)
