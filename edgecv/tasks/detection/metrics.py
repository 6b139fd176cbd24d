"""COCO mAP (0.5:0.95, 0.5, per class) of decoded detections, through faster-coco-eval (pycocotools' numbers).

Example::

    evaluator = DetectionEvaluator(["cat", "dog"])
    evaluator.update({"boxes": boxes, "scores": scores}, targets)   # raw outputs, per-image target dicts
    evaluator.compute()["map"]                                      # percent, 0-100
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgecv.deploy.detection_postprocess import PostprocessParams, postprocess
from edgecv.tasks.base import Evaluator

RECALLS = np.linspace(0.0, 1.0, 101)
"""COCO's recall levels (``COCOeval.params.recThrs``): the PR curve's x values."""


def as_numpy(value: Any) -> np.ndarray:
    """A tensor or array-like as a NumPy array (on the CPU)."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def coco_map(
    truths: list[dict[str, np.ndarray]], detections: list[dict[str, np.ndarray]], labels: list[str]
) -> dict[str, Any]:
    """mAP@0.5:0.95, mAP@0.5 and per-class AP in percent of ``detections`` against ``truths`` (one dict per image)."""
    from faster_coco_eval import COCO, COCOeval_faster

    classes = max([len(labels), *(int(t["labels"].max()) + 1 for t in truths if len(t["labels"]))])
    names = [*labels, *(str(i) for i in range(len(labels), classes))]
    images, annotations, results = [], [], []
    for index, (truth, det) in enumerate(zip(truths, detections, strict=True)):
        images.append({"id": index, "width": 1, "height": 1})
        for box, label in zip(as_numpy(truth["boxes"]).tolist(), as_numpy(truth["labels"]).tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": int(label),
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
        for box, score, label in zip(det["boxes"].tolist(), det["scores"].tolist(), det["labels"].tolist(),
                                     strict=True):
            results.append({"image_id": index, "category_id": int(label), "score": float(score),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    empty = {"samples": len(truths), "map": 0.0, "map50": 0.0, "map75": 0.0, "detections": len(results),
             "per_class": {n: {"ap": 0.0, "ap50": 0.0, "support": 0} for n in names},
             "curves": {"pr50": pr_curve(np.zeros((1, len(RECALLS), 1, 1, 1)))}}
    if not annotations or not results:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": i, "name": n} for i, n in enumerate(names)]}
        gt.createIndex()
        evaluation = COCOeval_faster(gt, gt.loadRes(results), "bbox", print_function=lambda *a, **k: None)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    precision = np.asarray(evaluation.eval["precision"])  # (iou thresholds, recall, class, area, max dets)
    support = {i: 0 for i in range(classes)}
    for a in annotations:
        support[a["category_id"]] += 1
    per_class = {}
    for i, name in enumerate(names):
        p = precision[:, :, i, 0, -1]
        ap = float(p[p > -1].mean() * 100) if (p > -1).any() else 0.0
        p50 = precision[0, :, i, 0, -1]
        ap50 = float(p50[p50 > -1].mean() * 100) if (p50 > -1).any() else 0.0
        per_class[name] = {"ap": round(ap, 3), "ap50": round(ap50, 3), "support": support[i]}
    return {**empty, "map": float(max(stats[0], 0) * 100), "map50": float(max(stats[1], 0) * 100),
            "map75": float(max(stats[2], 0) * 100), "per_class": per_class, "curves": {"pr50": pr_curve(precision)}}


def pr_curve(precision: np.ndarray) -> dict[str, list[float]]:
    """Precision at COCO's 101 recall levels at IoU 0.5, averaged over the classes that have true boxes (COCO's
    ``-1``: no box), from COCOeval's interpolated ``precision`` (iou, recall, class, area, max dets) array; the mean
    of the curve is mAP@0.5."""
    at50 = precision[0, :, :, 0, -1]
    counted = at50[:, (at50 > -1).all(axis=0)]
    curve = counted.mean(axis=1) if counted.shape[1] else np.zeros(len(RECALLS))
    return {"recall": [round(float(r), 2) for r in RECALLS], "precision": [round(float(p), 6) for p in curve]}


class DetectionEvaluator(Evaluator):
    """Decodes each batch's raw ``boxes``/``scores`` (score threshold + NMS) and computes COCO mAP at the end."""

    def __init__(self, labels: list[str], params: PostprocessParams = PostprocessParams()) -> None:
        self.labels = labels
        self.params = params
        self.truths: list[dict[str, np.ndarray]] = []
        self.detections: list[dict[str, np.ndarray]] = []

    def update(self, outputs: dict[str, np.ndarray], targets: Any) -> None:
        boxes, scores = np.asarray(outputs["boxes"]), np.asarray(outputs["scores"])
        for index, target in enumerate(targets):
            self.detections.append(postprocess(boxes[index], scores[index], self.params))
            self.truths.append({"boxes": as_numpy(target["boxes"]).reshape(-1, 4).astype(np.float64),
                                "labels": as_numpy(target["labels"]).astype(np.int64)})

    def compute(self) -> dict[str, Any]:
        return coco_map(self.truths, self.detections, self.labels)

    def resampled(self, picks: Sequence[int]) -> DetectionEvaluator:
        """The images of ``picks`` (one image per update), decoded once already."""
        other = DetectionEvaluator(self.labels, self.params)
        other.truths = [self.truths[i] for i in picks]
        other.detections = [self.detections[i] for i in picks]
        return other
