"""The bundle's numpy COCO mAP against edgecv's faster-coco-eval figure (pycocotools' numbers), on synthetic
detections with known structure: jittered true boxes (so every IoU threshold matters), false positives, duplicate
detections, classes without ground truth, images without detections, and tied scores."""

from __future__ import annotations

import numpy as np
import pytest

from edgecv.deploy import detection_metrics
from edgecv.tasks.detection.metrics import coco_map as edgecv_coco_map

LABELS = [str(i) for i in range(6)]


def _scene(seed: int, images: int = 40) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    truths, detections = [], []
    for index in range(images):
        n = int(rng.integers(0, 5))
        xy = rng.uniform(0, 80, (n, 2))
        wh = rng.uniform(4, 40, (n, 2))
        gt = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        gt_labels = rng.integers(0, 5, n)  # class 5 never has ground truth
        boxes, scores, labels = [], [], []
        for box, label in zip(gt, gt_labels, strict=True):
            for _ in range(int(rng.integers(0, 3))):  # 0-2 detections per object: misses and duplicates
                boxes.append(box + rng.normal(0, 3.0, 4))  # IoU with its object from ~0.3 to ~1
                scores.append(rng.uniform(0.05, 1.0))
                labels.append(label if rng.uniform() > 0.1 else int(rng.integers(0, 6)))
        for _ in range(int(rng.integers(0, 4))):  # false positives anywhere
            xy0 = rng.uniform(0, 90, 2)
            boxes.append(np.r_[xy0, xy0 + rng.uniform(3, 30, 2)])
            scores.append(rng.uniform(0.01, 0.6))
            labels.append(int(rng.integers(0, 6)))
        if index % 7 == 0:
            boxes, scores, labels = [], [], []  # an image without detections
        if len(scores) > 1 and index % 5 == 0:
            scores[1] = scores[0]  # tied scores
        truths.append({"boxes": gt.astype(np.float64), "labels": gt_labels.astype(np.int64)})
        detections.append({"boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                           "scores": np.asarray(scores, np.float32), "labels": np.asarray(labels, np.int64)})
    return truths, detections


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_map_equals_faster_coco_eval(seed: int) -> None:
    truths, detections = _scene(seed)
    ours = detection_metrics.coco_map(truths, detections, len(LABELS))
    theirs = edgecv_coco_map(truths, detections, LABELS)
    assert 5.0 < theirs["map"] < 95.0 and theirs["map50"] > theirs["map"]  # a scene where thresholds matter
    for key in ("map", "map50", "map75"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9), key
    for k, name in enumerate(LABELS):
        assert round(ours["per_class_ap"][k], 3) == theirs["per_class"][name]["ap"]
        assert round(ours["per_class_ap50"][k], 3) == theirs["per_class"][name]["ap50"]


def test_numpy_map_equals_pycocotools_when_installed() -> None:
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truths, detections = _scene(3)
    images = [{"id": i} for i in range(len(truths))]
    anns, results = [], []
    for i, (t, d) in enumerate(zip(truths, detections, strict=True)):
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": label, "bbox": [box[0], box[1], w, h],
                         "area": w * h, "iscrowd": 0})
        for box, s, label in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist(), strict=True):
            results.append({"image_id": i, "category_id": label, "score": s,
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": i} for i in range(6)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = detection_metrics.coco_map(truths, detections, 6)
    assert ours["map"] == pytest.approx(ev.stats[0] * 100, abs=1e-9)
    assert ours["map50"] == pytest.approx(ev.stats[1] * 100, abs=1e-9)


def test_perfect_and_empty_cases() -> None:
    truths, _ = _scene(4, images=10)
    perfect = [{"boxes": t["boxes"], "labels": t["labels"], "scores": np.ones(len(t["labels"]))} for t in truths]
    assert detection_metrics.coco_map(truths, perfect, 6)["map"] == pytest.approx(100.0)
    empty = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64), "scores": np.zeros(0)} for _ in truths]
    assert detection_metrics.coco_map(truths, empty, 6)["map"] == 0.0


def test_iou_is_pycocotools_bbiou() -> None:
    dt = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 10.0, 10.0], [20.0, 20.0, 1.0, 1.0]])
    gt = np.array([[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 5.0, 5.0]])
    iou = detection_metrics.iou_xywh(dt, gt)
    np.testing.assert_allclose(iou, [[1.0, 0.0], [25 / 175, 0.0], [0.0, 0.0]])
