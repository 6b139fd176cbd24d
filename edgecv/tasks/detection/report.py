"""Detection's own report.html section: per-class AP of the baseline and of the last artifact (dots and table).

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class AP", "<section ...>")
"""

from __future__ import annotations

from edgecv.report.per_class import per_class_section
from edgecv.report.schema import Report


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each detection section."""
    note = ("COCO AP@0.5:0.95 per class (faster-coco-eval, after the same score threshold and per-class NMS for "
            "every artifact); boxes = ground-truth boxes of the class in the val images; a class with no box scores "
            "0.")
    return [("classes", "Per-class AP", per_class_section(
        report, field="ap", title="Per-class AP", unit_label="AP@0.5:0.95 (%)", count_header="boxes", note=note))]
