"""Segmentation's own report.html section: per-class IoU of the baseline and of the last artifact (dots and table).

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class IoU", "<section ...>")
"""

from __future__ import annotations

from edgecv.report.per_class import per_class_section
from edgecv.report.schema import Report


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each segmentation section."""
    note = ("IoU = true positives / (true positives + false positives + false negatives) per class, over the val "
            "pixels that are not the ignore index; a class with no pixel in truth or prediction has none (–) and is "
            "left out of mIoU.")
    return [("classes", "Per-class IoU", per_class_section(
        report, field="iou", title="Per-class IoU", unit_label="IoU (%)", count_header="pixels", note=note))]
