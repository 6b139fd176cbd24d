"""COCO box mAP in numpy only: pycocotools' COCOeval algorithm (area "all", 100 detections), step for step.

A detection deploy bundle ships this file, so the device scores its detections without pycocotools. It reproduces
what edgecv reports through faster-coco-eval (``edgecv.tasks.detection.metrics.coco_map``, pycocotools' numbers):

- IoU of xywh boxes as pycocotools' ``bbIou`` (float64, ``w = min(x+w) - max(x)``, no overlap when <= 0);
- per image and class: detections sorted by score (stable), the first 100 kept; greedy matching at each IoU
  threshold 0.50:0.05:0.95, each detection taking the unmatched ground truth of highest IoU >= the threshold
  (ties: the later one), ground truth outside the area range ignored, and unmatched detections outside it too;
- per class: all images' detections sorted by score (stable), cumulative TP/FP, precision made monotone,
  sampled at 101 recall points; a class without ground truth left out (-1), as COCOeval does;
- mAP = mean precision over thresholds, recall points and classes; mAP@0.5 and @0.75 the same at one threshold.

Tests compare it with faster-coco-eval on random and real detections. Example::

    result = coco_map(truths, detections, num_classes=10)   # one dict per image: boxes xyxy, labels (, scores)
    result["map"], result["map50"], result["per_class_ap"]   # percent
"""

from __future__ import annotations

from typing import Any

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETECTIONS = 100
AREA_RANGE = (0.0, 1e5**2)


def xywh(boxes_xyxy: Any) -> np.ndarray:
    """(K, 4) xyxy -> xywh in float64, as edgecv writes COCO annotations and results (``w = x2 - x1``)."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def iou_xywh(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(D, G) IoU of xywh boxes, computed as pycocotools' ``bbIou`` (no crowd)."""
    w = np.minimum(dt[:, None, 2] + dt[:, None, 0], gt[None, :, 2] + gt[None, :, 0]) - np.maximum(
        dt[:, None, 0], gt[None, :, 0])
    h = np.minimum(dt[:, None, 3] + dt[:, None, 1], gt[None, :, 3] + gt[None, :, 1]) - np.maximum(
        dt[:, None, 1], gt[None, :, 1])
    inter = w * h
    union = (dt[:, None, 2] * dt[:, None, 3] + gt[None, :, 2] * gt[None, :, 3]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def _outside(area: np.ndarray) -> np.ndarray:
    return (area < AREA_RANGE[0]) | (area > AREA_RANGE[1])


def match_image(dt: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image and class, detections already sorted by score: (matched (T, D), detection ignored (T, D), gt
    ignored (G,)), COCOeval's ``evaluateImg`` for area "all"."""
    gt_ignored = _outside(gt[:, 2] * gt[:, 3])
    order = np.argsort(gt_ignored, kind="mergesort")  # not-ignored ground truth first
    gt, gt_ignored = gt[order], gt_ignored[order]
    t, d = len(IOU_THRESHOLDS), len(dt)
    matched, dt_ignored = np.zeros((t, d), bool), np.zeros((t, d), bool)
    if d and len(gt):
        ious = iou_xywh(dt, gt)
        best = ious.max(axis=1)
        for ti, threshold in enumerate(IOU_THRESHOLDS):
            taken = np.zeros(len(gt), bool)
            for di in np.nonzero(best >= min(threshold, 1 - 1e-10))[0]:
                m = _best_gt(ious[di], taken, gt_ignored, min(threshold, 1 - 1e-10))
                if m >= 0:
                    matched[ti, di], dt_ignored[ti, di], taken[m] = True, gt_ignored[m], True
    unmatched_outside = ~matched & _outside(dt[:, 2] * dt[:, 3])[None, :]
    return matched, dt_ignored | unmatched_outside, gt_ignored


def _best_gt(ious: np.ndarray, taken: np.ndarray, gt_ignored: np.ndarray, threshold: float) -> int:
    """The ground truth a detection matches (-1: none): COCOeval's inner loop over ground truth."""
    iou, m = threshold, -1
    for gi in range(len(ious)):
        if taken[gi]:
            continue
        if m > -1 and not gt_ignored[m] and gt_ignored[gi]:
            break
        if ious[gi] < iou:
            continue
        iou, m = ious[gi], gi
    return m


def class_precision(scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray, positives: int) -> np.ndarray:
    """(T, R) precision at the recall thresholds of one class (COCOeval's ``accumulate``); -1 without ground truth."""
    t, r = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
    if positives == 0:
        return -np.ones((t, r))
    order = np.argsort(-scores, kind="mergesort")
    matched, ignored = matched[:, order], ignored[:, order]
    tps = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fps = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    precision = np.zeros((t, r))
    for ti in range(t):
        tp, fp = tps[ti], fps[ti]
        recall = tp / positives
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1] if pr.size else pr  # monotone from the right
        index = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
        valid = index < len(pr)
        precision[ti, valid] = pr[index[valid]]
    return precision


def _class_evaluation(
    truths: list[dict[str, Any]], detections: list[dict[str, Any]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Scores, matches and ignores of class ``k`` over all images (each image's 100 best), and its positives."""
    scores, matched, ignored, positives = [], [], [], 0
    for truth, det in zip(truths, detections, strict=True):
        gt = xywh(np.asarray(truth["boxes"])[np.asarray(truth["labels"]) == k])
        mine = np.asarray(det["labels"]) == k
        dt, score = xywh(np.asarray(det["boxes"])[mine]), np.asarray(det["scores"], dtype=np.float64)[mine]
        if not len(gt) and not len(dt):
            continue
        order = np.argsort(-score, kind="mergesort")[:MAX_DETECTIONS]
        m, ig, gt_ignored = match_image(dt[order], gt)
        scores.append(score[order])
        matched.append(m)
        ignored.append(ig)
        positives += int((~gt_ignored).sum())
    t = len(IOU_THRESHOLDS)
    if not scores:
        return np.zeros(0), np.zeros((t, 0), bool), np.zeros((t, 0), bool), 0
    return np.concatenate(scores), np.concatenate(matched, axis=1), np.concatenate(ignored, axis=1), positives


def _mean(values: np.ndarray) -> float:
    present = values[values > -1]
    return float(np.mean(present)) if present.size else -1.0


def coco_map(truths: list[dict[str, Any]], detections: list[dict[str, Any]], num_classes: int) -> dict[str, Any]:
    """mAP@0.5:0.95, @0.5, @0.75 and per-class AP (percent) of ``detections`` against ``truths``, one dict per
    image (``boxes`` xyxy, ``labels``; detections also ``scores``). No ground truth or no detection at all: zeros,
    as edgecv reports it."""
    total_truths = sum(len(np.asarray(t["labels"])) for t in truths)
    total_dets = sum(len(np.asarray(d["labels"])) for d in detections)
    if not total_truths or not total_dets:
        zeros = [0.0] * num_classes
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, "per_class_ap": zeros, "per_class_ap50": list(zeros)}
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), num_classes))
    for k in range(num_classes):
        precision[:, :, k] = class_precision(*_class_evaluation(truths, detections, k))
    t75 = int(np.where(IOU_THRESHOLDS == 0.75)[0][0])
    per_class = [_mean(precision[:, :, k]) for k in range(num_classes)]
    per_class50 = [_mean(precision[0, :, k]) for k in range(num_classes)]
    return {
        "map": max(_mean(precision), 0.0) * 100,
        "map50": max(_mean(precision[0]), 0.0) * 100,
        "map75": max(_mean(precision[t75]), 0.0) * 100,
        "per_class_ap": [max(v, 0.0) * 100 for v in per_class],
        "per_class_ap50": [max(v, 0.0) * 100 for v in per_class50],
    }
