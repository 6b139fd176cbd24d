"""Segmentation's own report.html sections: per-class IoU of the baseline and of the last artifact (bars and
table), and a few val images with the true and the predicted class maps overlaid.

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class IoU", "<section ...>"), ("samples", "Val images", ...)
"""

from __future__ import annotations

from edgecv.report.per_class import per_class_section
from edgecv.report.schema import Report
from edgecv.report.thumbnails import MASK_ALPHA
from edgecv.report.visuals import load_visuals, samples_section


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each segmentation section."""
    note = ("IoU = true positives / (true positives + false positives + false negatives) per class, over the val "
            "pixels that are not the ignore index; a class with no pixel in truth or prediction has none (–) and is "
            "left out of mIoU.")
    samples_note = (f"The first val images as the model saw them, each class blended in at {MASK_ALPHA:.0%} in the "
                    "colours above (the label maps' own palette when they are palette PNGs); ignored pixels are left "
                    "as they are in the truth.")
    return [
        ("classes", "Per-class IoU", per_class_section(
            report, field="iou", title="Per-class IoU", unit_label="IoU (%)", count_header="pixels", note=note,
            bars=True)),
        ("samples", "Val images", samples_section(load_visuals(report), samples_note)),
    ]
