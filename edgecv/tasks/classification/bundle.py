"""A classifier's deploy-bundle val set: class-balanced images at the model's input size and their labels.

Example::

    arrays = bundle_val(splits.val, pre, 200)        # {"images": (N, 3, H, W) uint8, "labels": (N,) int64}
    dataset = bundle_dataset(arrays)                 # (image, label) pairs, as edgecv evaluates them
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from edgecv.artifacts import Preprocessing


def bundle_val(dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` class-balanced val images (seeded) at the model's size (bilinear, rounded), and their labels."""
    from edgecv.data import calibration_subset
    from edgecv.export.bundle_source import to_model_size

    if count <= 0 or len(dataset) == 0:  # type: ignore[arg-type]
        return {"images": np.zeros((0, 3, *pre.size), np.uint8), "labels": np.zeros((0,), np.int64)}
    subset = calibration_subset(dataset, count, seed)
    pairs = [subset[i] for i in range(len(subset))]
    images = np.stack([to_model_size(img, pre).numpy() for img, _ in pairs])
    return {"images": images, "labels": np.asarray([int(label) for _, label in pairs], dtype=np.int64)}


def bundle_dataset(arrays: dict[str, np.ndarray]) -> Dataset[Any]:
    """The bundled images and labels as (uint8 image, label) pairs."""
    return TensorDataset(torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"]))
