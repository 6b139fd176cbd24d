"""From raw detector outputs to detections: score threshold, top-k, per-class NMS, in NumPy.

The same code serves torch, ONNX Runtime and the deploy bundle's runner (this file is shipped in every detection
bundle, so it imports only numpy), so every artifact's mAP is decoded alike.

Example::

    dets = postprocess(boxes[0], scores[0])        # boxes (A, 4) xyxy, scores (A, C)
    dets["boxes"], dets["scores"], dets["labels"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PostprocessParams:
    """Thresholds of the decoding (torchvision's SSD defaults, COCO's 100 detections per image)."""

    score_threshold: float = 0.01
    iou_threshold: float = 0.5
    candidates: int = 1000
    max_detections: int = 100


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``others`` (K, 4)."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (as ``torchvision.ops.nms``)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class (boxes offset per class, as ``torchvision.ops.batched_nms``), by decreasing score."""
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = classes.astype(boxes.dtype) * (float(boxes.max()) + 1.0)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def postprocess(
    boxes: np.ndarray, scores: np.ndarray, params: PostprocessParams = PostprocessParams()
) -> dict[str, np.ndarray]:
    """Detections of one image from ``boxes`` (A, 4) xyxy and ``scores`` (A, C) class probabilities."""
    scores = np.asarray(scores, dtype=np.float32)
    anchor, label = np.nonzero(scores > params.score_threshold)
    values = scores[anchor, label]
    if values.size > params.candidates:
        top = np.argpartition(-values, params.candidates - 1)[: params.candidates]
        anchor, label, values = anchor[top], label[top], values[top]
    chosen = np.asarray(boxes, dtype=np.float32)[anchor]
    keep = batched_nms(chosen, values, label, params.iou_threshold)[: params.max_detections]
    return {"boxes": chosen[keep], "scores": values[keep], "labels": label[keep].astype(np.int64)}
