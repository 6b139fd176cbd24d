"""Classification: the task (:mod:`edgecv.tasks.classification.task`) and its metrics."""

from edgecv.tasks.classification.metrics import ClassificationMetrics
from edgecv.tasks.classification.task import ClassificationTask

TASK = ClassificationTask()

__all__ = ["TASK", "ClassificationMetrics", "ClassificationTask"]
