"""Semantic segmentation: the task (:mod:`edgecv.tasks.segmentation.task`), label-map data, segmenters, mIoU."""

from edgecv.tasks.segmentation.task import SegmentationTask

TASK = SegmentationTask()

__all__ = ["TASK", "SegmentationTask"]
