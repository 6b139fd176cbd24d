"""Segmentation's report pictures: a val image with its true class map, and with one model's predicted map,
overlaid in the dataset's palette (the label PNGs' own, when they are palette PNGs; else PASCAL VOC's).

Example::

    drawer = SegmentationDrawer(["background", "car"])
    drawer.truth(image, label_map), drawer.prediction(image, {"logits": logits}, label_map)   # PIL images
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from edgecv.report.thumbnails import Colour, hex_colour, label_palette, overlay
from edgecv.tasks.base import SampleDrawer
from edgecv.tasks.segmentation.metrics import predictions


def dataset_palette(dataset: Dataset[Any], count: int) -> list[Colour] | None:
    """The first ``count`` colours of the palette of ``dataset``'s label maps (Subsets unwrapped), or None when
    they carry none (grey PNGs, the digit canvases)."""
    while not hasattr(dataset, "palette") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    found = dataset.palette() if hasattr(dataset, "palette") else None
    return found[:count] if found and len(found) >= count else None


class SegmentationDrawer(SampleDrawer):
    """Class maps blended over val images: the truth once, each model's argmax prediction."""

    def __init__(self, labels: list[str], palette: list[Colour] | None = None) -> None:
        self.labels = labels
        self.palette = palette or label_palette(len(labels))

    def truth(self, image: np.ndarray, target: Any) -> Image.Image:
        return overlay(image, np.asarray(target), self.palette)

    def prediction(self, image: np.ndarray, output: dict[str, np.ndarray], target: Any) -> Image.Image:
        logits = output["logits"] if "logits" in output else next(iter(output.values()))
        return overlay(image, predictions(np.asarray(logits)[None])[0], self.palette)

    def legend(self) -> list[tuple[str, str]]:
        return [(name, hex_colour(colour)) for name, colour in zip(self.labels, self.palette, strict=True)]
