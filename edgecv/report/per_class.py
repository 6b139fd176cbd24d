"""A per-class section for report.html: one figure per class (IoU, AP, ...) of the baseline and of the last artifact,
as dots and a table; the tasks' report sections call it with their own field.

Example::

    per_class_section(report, field="ap", title="Per-class AP", unit_label="AP@0.5:0.95 (%)",
                      count_header="boxes", note="...")
"""

from __future__ import annotations

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.schema import Report, Validation

MANY_CLASSES = 40
"""Above this many classes the table lists only the classes that lost most, and draws no dots."""


def first_per_artifact(report: Report) -> list[Validation]:
    """The first validation row of each artifact that has per-class figures, in report order."""
    seen: dict[str, Validation] = {}
    for v in report.validations:
        if v.per_class:
            seen.setdefault(v.artifact, v)
    return list(seen.values())


def per_class_section(report: Report, *, field: str, title: str, unit_label: str, count_header: str,
                      note: str, anchor: str = "classes", bars: bool = False) -> str:
    """The section: ``field`` of each class (percent) for the baseline and the last artifact, and the change;
    drawn as dots, or as grouped bars when ``bars``."""
    entries = first_per_artifact(report)
    if not entries:
        return k.section(anchor, title, '<p class="empty">No per-class metrics.</p>')
    base, last = entries[0], entries[-1]
    labels = list(base.per_class)
    chosen = [base] if base is last else [base, last]
    body = ""
    if len(labels) <= MANY_CLASSES and plots.available():
        series = {v.artifact: [v.per_class.get(c, {}).get(field) or 0.0 for c in labels] for v in chosen}
        draw = plots.per_class_bars_svg if bars else plots.per_class_svg
        body += draw(labels, series, ylabel=unit_label)
    rows = []
    for c in labels:
        b, la = base.per_class[c], last.per_class.get(c, {})
        cells = [k.esc(c), f"{b.get('support', 0):.0f}", k.pct(b.get(field))]
        change = None if b.get(field) is None or la.get(field) is None else la[field] - b[field]
        if last is not base:
            cells += [k.pct(la.get(field)), k.delta(change)]
        rows.append((change or 0.0, cells))
    if len(labels) > MANY_CLASSES:
        rows = sorted(rows, key=lambda r: r[0])[:25]
        note += f" The {len(rows)} of {len(labels)} classes that lost most."
    headers = ["class", count_header, f"{field} % {base.artifact}"]
    if last is not base:
        headers += [f"{field} % {last.artifact}", f"Δ {field}"]
    body += k.table([k.esc(h) for h in headers], [r for _, r in rows], numeric=list(range(1, len(headers))))
    return k.section(anchor, title, body, note)
