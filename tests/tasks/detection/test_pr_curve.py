"""The precision-recall curve the detection evaluator keeps for the report: COCO's interpolated precision at 101
recall levels, IoU 0.5, averaged over the classes with true boxes; its mean is the evaluator's mAP@0.5."""

from __future__ import annotations

import numpy as np
import pytest

from edgecv.tasks.detection.metrics import DetectionEvaluator, coco_map


def test_by_hand_two_boxes_one_false_positive_between() -> None:
    # scores 0.9 (hit), 0.8 (miss), 0.7 (hit) on two true boxes: precision 1 up to recall 0.5, then 2/3
    truths = [{"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": np.array([0, 0])}]
    dets = [{"boxes": np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], np.float32),
             "scores": np.array([0.9, 0.8, 0.7], np.float32), "labels": np.array([0, 0, 0])}]
    metrics = coco_map(truths, dets, ["a", "b"])  # "b" has no true box: left out of curve and mAP alike
    curve = metrics["curves"]["pr50"]
    assert curve["recall"][50] == 0.5 and curve["recall"][51] == 0.51 and len(curve["recall"]) == 101
    assert curve["precision"][:51] == [1.0] * 51
    assert curve["precision"][51:] == pytest.approx([2 / 3] * 50, abs=1e-6)
    assert metrics["map50"] == pytest.approx((51 + 50 * 2 / 3) / 101 * 100, abs=1e-4)


def _raw_batch(rng: np.random.Generator, images: int, classes: int) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Raw outputs (boxes (N, A, 4), scores (N, A, C)) near the true boxes, with misses and false alarms."""
    anchors = 12
    boxes = rng.uniform(0, 80, (images, anchors, 2)).repeat(2, axis=2) + np.array([0, 0, 20, 20])
    scores = np.zeros((images, anchors, classes), np.float32)
    targets = []
    for i in range(images):
        count = int(rng.integers(1, 4))
        labels = rng.integers(0, classes, count)
        truth = boxes[i, :count] + rng.normal(0, 3, (count, 4))  # a jittered true box under each of the first
        targets.append({"boxes": truth, "labels": labels})
        scores[i, :count, :] = rng.uniform(0.0, 0.2, (count, classes))
        scores[i, np.arange(count), labels] = rng.uniform(0.2, 1.0, count)
        scores[i, count:, :] = rng.uniform(0.0, 0.7, (anchors - count, classes)) * (rng.random((anchors - count,
                                                                                                  classes)) < 0.3)
    return {"boxes": boxes.astype(np.float32), "scores": scores}, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curve_is_monotone_and_its_area_is_map50(seed: int) -> None:
    rng = np.random.default_rng(seed)
    evaluator = DetectionEvaluator(["a", "b", "c"])
    for _ in range(3):
        evaluator.update(*_raw_batch(rng, 10, 3))
    metrics = evaluator.compute()
    precision = np.asarray(metrics["curves"]["pr50"]["precision"])
    assert 5.0 < metrics["map50"] < 99.0  # a real mix of hits, misses and false alarms
    assert np.all(np.diff(precision) <= 0.0)  # the interpolated envelope never rises with recall
    assert precision.mean() * 100 == pytest.approx(metrics["map50"], abs=1e-3)


def test_no_detections_give_a_flat_zero_curve() -> None:
    truths = [{"boxes": np.array([[0.0, 0, 10, 10]]), "labels": np.array([0])}]
    empty = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "labels": np.zeros(0, int)}
    curve = coco_map(truths, [empty], ["a"])["curves"]["pr50"]
    assert curve["precision"] == [0.0] * 101 and curve["recall"][-1] == 1.0
