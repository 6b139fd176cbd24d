"""Object detection: the task (:mod:`edgecv.tasks.detection.task`), its datasets, detectors, NMS and mAP."""

from edgecv.tasks.detection.task import DetectionTask

TASK = DetectionTask()

__all__ = ["TASK", "DetectionTask"]
