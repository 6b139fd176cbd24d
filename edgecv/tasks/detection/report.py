"""Detection's own report.html sections: per-class AP of the baseline and of the last artifact (dots and table),
their precision-recall curves at IoU 0.5, and a few val images with true and predicted boxes.

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class AP", "<section ...>"), ("pr", ...), ("samples", ...)
"""

from __future__ import annotations

from edgecv.report.per_class import per_class_section
from edgecv.report.schema import Report
from edgecv.report.visuals import load_visuals, pr_section, samples_section
from edgecv.tasks.detection.visuals import DISPLAY_SCORE


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each detection section."""
    note = ("COCO AP@0.5:0.95 per class (faster-coco-eval, after the same score threshold and per-class NMS for "
            "every artifact); boxes = ground-truth boxes of the class in the val images; a class with no box scores "
            "0.")
    visuals = load_visuals(report)
    pr_note = ("COCO's interpolated precision at 101 recall levels at IoU 0.5, averaged over the classes that have "
               "true boxes (the mean of each class's curve is its AP@0.5), for the baseline and the final artifact "
               "on the val images; the area under a curve is its mAP@0.5.")
    samples_note = (f"The first val images as the model saw them: true boxes in white, detections (after the mAP's "
                    f"score threshold and per-class NMS) from score {DISPLAY_SCORE:g} in their class's colour, with "
                    "class and score.")
    return [
        ("classes", "Per-class AP", per_class_section(
            report, field="ap", title="Per-class AP", unit_label="AP@0.5:0.95 (%)", count_header="boxes", note=note)),
        ("pr", "Precision-recall", pr_section(visuals, pr_note, area_label="AP@0.5")),
        ("samples", "Val images", samples_section(visuals, samples_note)),
    ]
