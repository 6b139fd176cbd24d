"""The segmentation Evaluator: a pixel confusion matrix over batches, then mIoU, per-class IoU, pixel accuracy.

The arithmetic and its rules (ignored pixels, a void channel, classes absent from truth and prediction) are
:mod:`edgecv.deploy.segmentation_metrics`, numpy only, which deploy bundles ship: the device scores alike.

Example::

    evaluator = SegmentationEvaluator(["road", "car", "sky"])
    evaluator.update({"logits": logits}, label_maps)            # (N, C, H, W), (N, H, W)
    evaluator.compute()["miou"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgecv.deploy.segmentation_metrics import add_confusion, confusion_matrix, predictions, scores_from_confusion
from edgecv.tasks.base import Evaluator

if TYPE_CHECKING:
    import torch

__all__ = ["SegmentationEvaluator", "confusion_matrix", "pixel_counts", "predictions", "scores_from_confusion"]


class SegmentationEvaluator(Evaluator):
    """Accumulates the pixel confusion matrix of ``logits`` outputs against label maps; computes mIoU and details."""

    def __init__(self, labels: list[str], ignore_index: int | None = None) -> None:
        self.labels, self.ignore_index = labels, ignore_index
        self.confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        self.samples = 0

    def update(self, outputs: dict[str, np.ndarray], targets: Any) -> None:
        logits = outputs["logits"] if "logits" in outputs else next(iter(outputs.values()))
        truth = np.asarray(targets)
        if logits.shape[-2:] != truth.shape[-2:]:
            raise ValueError(f"outputs are {logits.shape[-2:]} but the label maps {truth.shape[-2:]}: a segmenter "
                             "must return logits at its input resolution")
        cm = confusion_matrix(predictions(logits), truth, len(self.labels), self.ignore_index)
        self.confusion = add_confusion(self.confusion, cm)
        self.samples += len(truth)

    def compute(self) -> dict[str, Any]:
        scores = scores_from_confusion(self.confusion, self.labels)
        n = len(self.labels)
        return {**scores, "samples": self.samples, "ignore_index": self.ignore_index,
                "confusion": self.confusion[:, :n].tolist()}


def pixel_counts(dataset: Any, num_classes: int) -> torch.Tensor:
    """Label-map pixels of each class over a dataset of ``(image, label map)``; other values (ignored) left out."""
    import torch

    counts = torch.zeros(num_classes, dtype=torch.int64)
    for index in range(len(dataset)):
        label = torch.as_tensor(dataset[index][1]).reshape(-1).long()
        counts += torch.bincount(label[(label >= 0) & (label < num_classes)], minlength=num_classes)
    return counts
