"""mAP by hand-computed cases, and the NumPy NMS against torchvision.ops."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import batched_nms as tv_batched_nms

from edgecv.deploy.detection_postprocess import batched_nms, postprocess
from edgecv.tasks.detection.metrics import DetectionEvaluator, coco_map


def _truths() -> list[dict[str, np.ndarray]]:
    return [{"boxes": np.array([[0.0, 0, 100, 100]]), "labels": np.array([0])},
            {"boxes": np.array([[10.0, 10, 60, 60]]), "labels": np.array([1])}]


def _dets(first: list[float]) -> list[dict[str, np.ndarray]]:
    return [{"boxes": np.array([first], np.float32), "scores": np.array([0.9], np.float32), "labels": np.array([0])},
            {"boxes": np.array([[10, 10, 60, 60]], np.float32), "scores": np.array([0.8], np.float32),
             "labels": np.array([1])}]


def test_perfect_predictions_give_100() -> None:
    metrics = coco_map(_truths(), _dets([0, 0, 100, 100]), ["a", "b"])
    assert metrics["map"] == 100.0 and metrics["map50"] == 100.0


def test_shifted_box_by_hand() -> None:
    # IoU 0.62 matches at thresholds 0.50, 0.55, 0.60 only: class a AP = 3/10; class b stays perfect
    metrics = coco_map(_truths(), _dets([0, 0, 100, 62]), ["a", "b"])
    assert metrics["per_class"]["a"]["ap"] == 30.0 and metrics["per_class"]["a"]["ap50"] == 100.0
    assert metrics["map"] == 65.0 and metrics["map50"] == 100.0


def test_evaluator_decodes_raw_outputs() -> None:
    boxes = np.zeros((1, 3, 4), np.float32)
    boxes[0] = [[0, 0, 100, 100], [1, 1, 100, 100], [10, 10, 60, 60]]  # the second is suppressed by NMS
    scores = np.array([[[0.9, 0.0], [0.8, 0.0], [0.0, 0.7]]], np.float32)
    evaluator = DetectionEvaluator(["a", "b"])
    truths = [{"boxes": torch.tensor([[0.0, 0, 100, 100], [10, 10, 60, 60]]), "labels": torch.tensor([0, 1])}]
    evaluator.update({"boxes": boxes, "scores": scores}, truths)
    assert evaluator.compute()["map"] == 100.0
    assert len(evaluator.detections[0]["labels"]) == 2


def test_nms_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 80, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2))], 1).astype(np.float32)
    scores = rng.permutation(300).astype(np.float32) / 300
    classes = rng.integers(0, 4, 300)
    ours = batched_nms(boxes, scores, classes, 0.5)
    theirs = tv_batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.5)
    assert ours.tolist() == theirs.tolist()


def test_postprocess_threshold_and_cap() -> None:
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (5, 1)) + np.arange(5)[:, None] * 20
    scores = np.array([[0.9], [0.005], [0.5], [0.2], [0.3]], np.float32)
    dets = postprocess(boxes, scores)
    assert dets["scores"].tolist() == [np.float32(0.9), np.float32(0.5), np.float32(0.3), np.float32(0.2)]
