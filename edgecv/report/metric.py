"""The task metric as the report shows it: read from a validation by the task's key, labelled by the task.

A validation stores the task's primary metric under its key (``top1``), the change from the baseline under
``<key>_delta``, the torch model's under ``torch_<key>`` and an imported device figure under ``device_<key>``;
runs made before tasks had only classification, whose keys these are.

Example::

    metric = report_metric(report)      # Metric(key="top1", label="top-1", unit="%")
    column(metric)                      # "top-1 %"
    shown_score(validation, metric)     # the device's figure when imported, else this machine's
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecv.report.schema import Report, Validation
    from edgecv.tasks.base import Metric, Task


def task_of(report: Report) -> Task:
    """The report's task (classification for runs made before tasks)."""
    from edgecv.tasks import get_task

    return get_task((report.recipe or {}).get("task") or "classification")


def report_metric(report: Report) -> Metric:
    """The primary metric of the report's task."""
    return task_of(report).metric


def headline_metrics(report: Report) -> list[Metric]:
    """The primary metric and the task's other headline figures, in report column order."""
    task = task_of(report)
    return [task.metric, *task.secondary_metrics]


def column(metric: Metric, prefix: str = "") -> str:
    """A column header: ``top-1 %``, ``device top-1 %``, ``Δ top-1``."""
    unit = f" {metric.unit}" if metric.unit and not prefix.startswith("Δ") else ""
    return f"{prefix}{metric.label}{unit}"


def score(v: Validation, metric: Metric, where: str = "") -> float | None:
    """The metric of a validation: ``where`` is "" (this machine), "device", "torch" or "delta"."""
    key = {"": metric.key, "device": f"device_{metric.key}", "torch": f"torch_{metric.key}",
           "delta": f"{metric.key}_delta"}[where]
    value = v.metrics.get(key)
    return None if value is None else float(value)


def shown_score(v: Validation, metric: Metric) -> float | None:
    """The device's figure when one was imported, else the one measured on this machine."""
    on_device = score(v, metric, "device")
    return on_device if on_device is not None else score(v, metric)
