"""A segmenter's deploy-bundle val set: images at the model's input size and their label maps resized alike.

``val.npz`` holds ``images`` (N, 3, H, W) uint8 (bilinear, antialiased, rounded: edgecv's resize) and ``labels``
(N, H, W) int16 label maps resized by nearest neighbour (``nearest-exact``, edgecv's ``resize_label``): class
indices, and -100 where the data's ignore index was (no metric counts negative pixels). mIoU on the bundle is
therefore mIoU at the model's resolution, which is what edgecv reports too.

Example::

    arrays = bundle_val(splits.val, pre, 200)
    bundle_dataset(arrays)[0]      # (uint8 image, (H, W) int64 label map)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from edgecv.artifacts import Preprocessing
from edgecv.errors import DataError


def bundle_val(dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` val images (seeded, balanced by their first class) and label maps at the model's size."""
    from edgecv.data import calibration_subset
    from edgecv.export.bundle_source import to_model_size
    from edgecv.tasks.segmentation.transforms import resize_label

    size = (int(pre.size[0]), int(pre.size[1]))
    if count <= 0 or len(dataset) == 0:  # type: ignore[arg-type]
        return {"images": np.zeros((0, 3, *size), np.uint8), "labels": np.zeros((0, *size), np.int16)}
    subset = calibration_subset(dataset, count, seed)
    pairs = [subset[i] for i in range(len(subset))]
    images = np.stack([to_model_size(image, pre).numpy() for image, _ in pairs])
    labels = np.stack([resize_label(label, size).numpy() for _, label in pairs])
    if labels.size and (labels.min() < np.iinfo(np.int16).min or labels.max() > np.iinfo(np.int16).max):
        raise DataError(f"val label maps hold values {labels.min()}..{labels.max()}, beyond val.npz's int16 label "
                        "maps; map them to class indices (data.class_names, data.ignore_index)")
    return {"images": images, "labels": labels.astype(np.int16)}


def bundle_dataset(arrays: dict[str, np.ndarray]) -> Dataset[Any]:
    """The bundled images and label maps as (uint8 image, int64 label map) pairs."""
    return TensorDataset(torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"].astype(np.int64)))


def bundle_info(labels: list[str], output_names: list[str]) -> dict[str, Any]:
    """task.json: the class names, the logits output, and that negative label pixels are ignored."""
    return {"task": "segmentation", "labels": list(labels), "output": output_names[0] if output_names else "logits",
            "ignore_index": None,
            "metric": ("Metric: mIoU and pixel accuracy from the pixel confusion matrix of the logits' argmax against "
                       "val.npz's label maps (segmentation_metrics.py, edgecv's code); label maps were resized to the "
                       "model input by nearest neighbour, and negative pixels (the data's ignore index) count "
                       "nowhere.")}
