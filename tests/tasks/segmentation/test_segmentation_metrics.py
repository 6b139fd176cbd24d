"""Segmentation metrics: a hand-computed confusion matrix, scikit-learn's and torchmetrics' IoU, ignore handling."""

from __future__ import annotations

import numpy as np
import pytest

from edgecv.tasks import get_task
from edgecv.tasks.segmentation.metrics import SegmentationEvaluator, confusion_matrix, scores_from_confusion


def _logits(predicted: np.ndarray, classes: int) -> np.ndarray:
    """One-hot logits (N, C, H, W) whose argmax is ``predicted``."""
    return np.moveaxis(np.eye(classes, dtype=np.float32)[predicted], -1, 1)


TRUTH = np.array([[[0, 0, 1, 1], [0, 2, 2, 255]]])
PRED = np.array([[[0, 1, 1, 1], [2, 2, 0, 1]]])


def test_confusion_and_iou_by_hand() -> None:
    cm = confusion_matrix(PRED, TRUTH, 3, ignore_index=255)
    # truth 0: pred 0,1,2 -> row [1, 1, 1]; truth 1: pred 1,1 -> [0, 2, 0]; truth 2: pred 2,0 -> [1, 0, 1]
    assert cm.tolist() == [[1, 1, 1], [0, 2, 0], [1, 0, 1]]
    scores = scores_from_confusion(cm, ["a", "b", "c"])
    # IoU a = 1 / (3 + 2 - 1) = 0.25; b = 2 / (2 + 3 - 2) = 2/3; c = 1 / (2 + 2 - 1) = 1/3
    assert scores["per_class"]["a"]["iou"] == pytest.approx(25.0)
    assert scores["per_class"]["b"]["iou"] == pytest.approx(200 / 3, abs=1e-3)
    assert scores["miou"] == pytest.approx((25 + 200 / 3 + 100 / 3) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 7 * 100) and scores["pixels"] == 7


def test_evaluator_matches_sklearn_jaccard_over_batches() -> None:
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=(6, 9, 11))
    truth[:, 0] = -100  # ignored pixels (what the loaders make of the ignore index)
    predicted = rng.integers(0, 5, size=truth.shape)
    evaluator = SegmentationEvaluator(["a", "b", "c", "d", "e"])
    for start in (0, 2, 5):  # three uneven batches accumulate into one matrix
        stop = {0: 2, 2: 5, 5: 6}[start]
        evaluator.update({"logits": _logits(predicted[start:stop], 5)}, truth[start:stop])
    keep = truth.ravel() >= 0
    expected = jaccard_score(truth.ravel()[keep], predicted.ravel()[keep], labels=list(range(5)), average=None)
    result = evaluator.compute()
    assert [result["per_class"][c]["iou"] for c in "abcde"] == pytest.approx(expected * 100, abs=1e-3)
    assert result["miou"] == pytest.approx(expected.mean() * 100) and result["samples"] == 6


def test_absent_class_left_out_and_void_prediction_is_a_miss() -> None:
    truth = np.array([[[0, 0, 1, 1]]])
    # class 2 is in neither truth nor prediction; the model's 4th channel (void) wins on one class-1 pixel
    metrics = get_task("segmentation").evaluate({"logits": _logits(np.array([[[0, 0, 1, 3]]]), 4)}, truth,
                                               ["a", "b", "c"])
    assert "iou" not in metrics["per_class"]["c"]
    assert metrics["per_class"]["b"]["iou"] == pytest.approx(50.0)  # 1 / (2 + 1 - 1)
    assert metrics["miou"] == pytest.approx(75.0)  # mean of a (100) and b (50) only


def test_matches_torchmetrics_jaccard_with_ignore_index() -> None:
    torchmetrics = pytest.importorskip("torchmetrics")
    import torch

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, size=(3, 8, 8))
    predicted = rng.integers(0, 3, size=truth.shape)
    truth[:, :2] = 3  # class 3 is the ignore index here
    mine = scores_from_confusion(confusion_matrix(predicted, truth, 3, ignore_index=3), ["a", "b", "c"])
    metric = torchmetrics.classification.MulticlassJaccardIndex(num_classes=4, ignore_index=3, average="none")
    theirs = metric(torch.from_numpy(predicted), torch.from_numpy(truth)).numpy()[:3]
    assert [mine["per_class"][c]["iou"] for c in "abc"] == pytest.approx(theirs * 100, abs=1e-3)
