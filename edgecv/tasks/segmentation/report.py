"""Segmentation's own report.html section: per-class IoU of the baseline and of the last artifact (dots and table).

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class IoU", "<section ...>")
"""

from __future__ import annotations

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.schema import Report, Validation


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each segmentation section."""
    return [("classes", "Per-class IoU", _per_class(report))]


def _first_per_artifact(report: Report) -> list[Validation]:
    seen: dict[str, Validation] = {}
    for v in report.validations:
        if v.per_class:
            seen.setdefault(v.artifact, v)
    return list(seen.values())


def _per_class(report: Report) -> str:
    entries = _first_per_artifact(report)
    if not entries:
        return k.section("classes", "Per-class IoU", '<p class="empty">No per-class metrics.</p>')
    base, last = entries[0], entries[-1]
    labels = list(base.per_class)
    chosen = [base] if base is last else [base, last]
    body = ""
    if plots.available():
        series = {v.artifact: [v.per_class.get(c, {}).get("iou", 0.0) for c in labels] for v in chosen}
        body += plots.per_class_svg(labels, series, ylabel="IoU (%)")
    rows = []
    for c in labels:
        b, la = base.per_class[c], last.per_class.get(c, {})
        cells = [k.esc(c), f"{b.get('support', 0):.0f}", k.pct(b.get("iou"))]
        if last is not base:
            change = None if b.get("iou") is None or la.get("iou") is None else la["iou"] - b["iou"]
            cells += [k.pct(la.get("iou")), k.delta(change)]
        rows.append(cells)
    headers = ["class", "pixels", f"IoU % {base.artifact}"]
    if last is not base:
        headers += [f"IoU % {last.artifact}", "Δ IoU"]
    body += k.table([k.esc(h) for h in headers], rows, numeric=list(range(1, len(headers))))
    note = ("IoU = true positives / (true positives + false positives + false negatives) per class, over the val "
            "pixels that are not the ignore index; a class with no pixel in truth or prediction has none (–) and is "
            "left out of mIoU.")
    return k.section("classes", "Per-class IoU", body, note)
