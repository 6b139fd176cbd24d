"""Segmentation metrics from a pixel confusion matrix: mIoU, per-class IoU, pixel accuracy (numpy only).

edgecv's SegmentationEvaluator and a segmentation deploy bundle's runner both score with these functions (this
file is shipped in the bundle, so the device computes exactly edgecv's figures).

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


def add_confusion(total: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """``total`` plus one batch's ``confusion``, widened when the batch predicted a class beyond the columns."""
    if confusion.shape[1] > total.shape[1]:
        total = np.pad(total, ((0, 0), (0, confusion.shape[1] - total.shape[1])))
    total[:, : confusion.shape[1]] += confusion
    return total
