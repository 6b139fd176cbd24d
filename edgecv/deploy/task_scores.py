"""The task's metric on a bundle's images, batch by batch: top-1/top-5, COCO mAP, or mIoU (numpy only).

``task.json`` in the bundle names the task and what scoring needs (class names, output names, the detection
decoding); ``val.npz`` holds the images and their ground truth (see ``edgecv.export.bundle``). A bundle without
``task.json`` is a classifier's (bundles made before detection and segmentation had them).

Example::

    scorer = make_scorer(task_info, data)        # data: the arrays of val.npz
    for start in range(0, n, 32):
        scorer.update(backend.infer_all(x[start:start + 32]), start)
    scorer.compute()                             # {"samples": n, "top1": ...} / {"map": ...} / {"miou": ...}
"""

from __future__ import annotations

from typing import Any

import numpy as np

if __package__:
    from . import detection_metrics, detection_postprocess, segmentation_metrics
else:  # run from a bundle folder: the sibling modules
    import detection_metrics  # type: ignore[no-redef]
    import detection_postprocess  # type: ignore[no-redef]
    import segmentation_metrics  # type: ignore[no-redef]


class BundleDataError(Exception):
    """The bundle's task.json or val.npz does not fit the model or this runner (a one-line message says the fix)."""


def _named(outputs: dict[str, np.ndarray], name: str | None) -> np.ndarray:
    """The output called ``name`` (the first when it is not named)."""
    return np.asarray(outputs[name] if name in outputs else next(iter(outputs.values())))


class ClassificationScorer:
    """Top-1 (and top-5 with more than 5 classes) of the first output against ``labels``."""

    def __init__(self, info: dict[str, Any], data: dict[str, np.ndarray]) -> None:
        self.labels = np.asarray(data["labels"]).astype(np.int64)
        self.output = info.get("output", "logits")
        self.logits: list[np.ndarray] = []

    def update(self, outputs: dict[str, np.ndarray], start: int) -> None:
        logits = _named(outputs, self.output)
        self.logits.append(logits.reshape(len(logits), -1))

    def compute(self) -> dict[str, Any]:
        logits = np.concatenate(self.logits)
        predicted = logits.argmax(axis=1)
        labels = self.labels[: len(logits)]
        result: dict[str, Any] = {
            "samples": len(labels),
            "correct": int((predicted == labels).sum()),
            "top1": float((predicted == labels).mean() * 100),
            "top5": None,
            "predictions": predicted.tolist(),
        }
        if logits.shape[1] > 5:
            best5 = np.argsort(-logits, axis=1)[:, :5]
            result["top5"] = float((best5 == labels[:, None]).any(axis=1).mean() * 100)
        return result


class DetectionScorer:
    """Decodes ``boxes``/``scores`` with edgecv's score threshold + per-class NMS, then COCO mAP in input pixels."""

    def __init__(self, info: dict[str, Any], data: dict[str, np.ndarray]) -> None:
        self.params = detection_postprocess.PostprocessParams(**info.get("postprocess", {}))
        self.names = info.get("outputs", {"boxes": "boxes", "scores": "scores"})
        ends = np.cumsum(np.asarray(data["box_counts"], dtype=np.int64))
        boxes, labels = np.asarray(data["boxes"], dtype=np.float64), np.asarray(data["labels"], dtype=np.int64)
        self.truths = [{"boxes": boxes[e - n : e], "labels": labels[e - n : e]}
                       for e, n in zip(ends, data["box_counts"], strict=True)]
        self.num_classes = max([len(info.get("labels", [])), *(int(t["labels"].max()) + 1 for t in self.truths
                                                                  if len(t["labels"]))])
        self.detections: list[dict[str, np.ndarray]] = []

    def update(self, outputs: dict[str, np.ndarray], start: int) -> None:
        missing = [n for n in self.names.values() if n not in outputs]
        if missing:
            raise BundleDataError(f"the model has no output {missing[0]!r} (it has {', '.join(outputs)}); task.json "
                                  "names the detector's boxes and scores outputs: re-make the bundle (edgecv deploy)")
        boxes, scores = np.asarray(outputs[self.names["boxes"]]), np.asarray(outputs[self.names["scores"]])
        for index in range(len(boxes)):
            self.detections.append(detection_postprocess.postprocess(boxes[index], scores[index], self.params))

    def compute(self) -> dict[str, Any]:
        truths = self.truths[: len(self.detections)]
        result = detection_metrics.coco_map(truths, self.detections, self.num_classes)
        return {"samples": len(truths), "detections": int(sum(len(d["labels"]) for d in self.detections)),
                "truths": int(sum(len(t["labels"]) for t in truths)), **result}


class SegmentationScorer:
    """Per-pixel argmax of ``logits`` against the label maps (negative = ignored): edgecv's confusion matrix."""

    def __init__(self, info: dict[str, Any], data: dict[str, np.ndarray]) -> None:
        self.masks = np.asarray(data["labels"])
        self.names = list(info["labels"])
        self.output = info.get("output", "logits")
        self.ignore_index = info.get("ignore_index")
        self.confusion = np.zeros((len(self.names), len(self.names)), dtype=np.int64)
        self.samples = 0

    def update(self, outputs: dict[str, np.ndarray], start: int) -> None:
        logits = _named(outputs, self.output)
        truth = self.masks[start : start + len(logits)]
        if logits.shape[-2:] != truth.shape[-2:]:
            raise BundleDataError(f"the model outputs {logits.shape[-2:]} maps but val.npz holds "
                                  f"{truth.shape[-2:]} label maps; re-make the bundle with edgecv deploy")
        predicted = segmentation_metrics.predictions(logits)
        cm = segmentation_metrics.confusion_matrix(predicted, truth, len(self.names), self.ignore_index)
        self.confusion = segmentation_metrics.add_confusion(self.confusion, cm)
        self.samples += len(truth)

    def compute(self) -> dict[str, Any]:
        scores = segmentation_metrics.scores_from_confusion(self.confusion, self.names)
        return {"samples": self.samples, **scores}


SCORERS = {"classification": ClassificationScorer, "detection": DetectionScorer, "segmentation": SegmentationScorer}
NEEDS = {"classification": ("labels",), "detection": ("boxes", "labels", "box_counts"), "segmentation": ("labels",)}
"""The val.npz arrays each task's scorer reads (besides ``images``)."""


def make_scorer(info: dict[str, Any], data: dict[str, np.ndarray]) -> Any:
    """The scorer of ``info["task"]`` (classification when absent)."""
    task = info.get("task", "classification")
    if task not in SCORERS:
        raise BundleDataError(f"task.json: task {task!r} is not one this runner scores ({', '.join(SCORERS)}); "
                              "re-make the bundle with this edgecv")
    missing = [name for name in NEEDS[task] if name not in data]
    if missing:
        raise BundleDataError(f"val.npz: no array '{missing[0]}', which a {task} bundle holds; re-make the bundle "
                              "with edgecv deploy")
    if task == "segmentation" and not info.get("labels"):
        raise BundleDataError("task.json: no 'labels' (the class names a segmentation bundle scores); re-make the "
                              "bundle with edgecv deploy")
    return SCORERS[task](info, data)


def headline(task: str, result: dict[str, Any]) -> str:
    """One line for the console: the task's figures."""
    if task == "detection":
        return f"mAP@0.5:0.95 {result['map']:.2f}%, mAP@0.5 {result['map50']:.2f}% on {result['samples']} images"
    if task == "segmentation":
        return (f"mIoU {result['miou']:.2f}%, pixel accuracy {result['pixel_accuracy']:.2f}% on "
                f"{result['samples']} images")
    return f"top-1 {result['top1']:.2f}% on {result['samples']} images"
