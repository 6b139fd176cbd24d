"""Segmentation metrics from a pixel confusion matrix: mIoU, per-class IoU, pixel accuracy.

``confusion[t, p]`` counts pixels of true class ``t`` predicted as ``p``; pixels whose truth is the ignore index
(the loaders turn it into -100, torch's ignore value) or outside the class range are not counted. A prediction of
a class beyond the named ones (a model with an extra void channel) counts against the true class. IoU of class c
= TP / (TP + FP + FN); the mean (mIoU) is over the named classes that occur in the truth or the prediction: a class
absent from both has no IoU (no ``iou`` entry in ``per_class``) and is left out of the mean.

Example::

    cm = confusion_matrix(predicted, truth, num_classes=3, ignore_index=255)
    scores = scores_from_confusion(cm, ["road", "car", "sky"])
    scores["miou"], scores["per_class"]["car"]["iou"], scores["pixel_accuracy"]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecv.tasks.base import Evaluator


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, num_classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """int64 counts of (true, predicted) pixel pairs, ``num_classes`` rows; truth that is negative, the ignore index
    or beyond the classes is not counted. Columns past ``num_classes`` (only when a prediction is beyond them) hold
    predictions of uncounted classes (a void channel): misses of the true class."""
    truth = np.asarray(truth, dtype=np.int64).ravel()
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    keep = (truth >= 0) & (truth < num_classes)
    if ignore_index is not None:
        keep &= truth != ignore_index
    truth, predicted = truth[keep], predicted[keep]
    width = max(num_classes, int(predicted.max()) + 1 if predicted.size else 0)
    counts = np.bincount(truth * width + predicted, minlength=num_classes * width).reshape(num_classes, width)
    return counts


def scores_from_confusion(confusion: np.ndarray, names: list[str]) -> dict[str, Any]:
    """mIoU, per-class IoU and pixel accuracy (percent) from a ``(classes, >= classes)`` confusion matrix."""
    n = len(names)
    cm = confusion.astype(np.float64)
    tp = np.diag(cm[:n, :n])
    truth = cm[:n].sum(axis=1)
    predicted = cm[:n, :n].sum(axis=0)
    union = truth + predicted - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    per_class = {  # a class absent from truth and prediction has no "iou"
        name: {"support": int(truth[i]), **({} if np.isnan(iou[i]) else {"iou": round(float(iou[i]) * 100, 4)})}
        for i, name in enumerate(names)
    }
    present = iou[~np.isnan(iou)]
    total = cm.sum()
    return {
        "miou": float(present.mean() * 100) if present.size else 0.0,
        "pixel_accuracy": float(tp.sum() / total * 100) if total else 0.0,
        "per_class": per_class,
        "pixels": int(total),
    }


def predictions(logits: np.ndarray) -> np.ndarray:
    """Class indices (N, H, W) of (N, C, H, W) logits."""
    return np.asarray(logits).argmax(axis=1)


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
        if cm.shape[1] > self.confusion.shape[1]:
            self.confusion = np.pad(self.confusion, ((0, 0), (0, cm.shape[1] - self.confusion.shape[1])))
        self.confusion[:, : cm.shape[1]] += cm
        self.samples += len(truth)

    def compute(self) -> dict[str, Any]:
        scores = scores_from_confusion(self.confusion, self.labels)
        n = len(self.labels)
        return {**scores, "samples": self.samples, "ignore_index": self.ignore_index,
                "confusion": self.confusion[:, :n].tolist()}
