"""Classification's own report.html sections: per-class accuracy (bars and table) and the confusion matrices of
the baseline and of the last artifact.

Example::

    for anchor, title, html in report_sections(report):
        ...                     # ("classes", "Per-class accuracy", "<section ...>")
"""

from __future__ import annotations

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.schema import Report, Validation

MANY_CLASSES = 40
"""Above this many classes the per-class table lists only the classes that lost most, and draws no bars."""


def report_sections(report: Report) -> list[tuple[str, str, str]]:
    """``(anchor, nav title, section html)`` for each classification section."""
    return [
        ("classes", "Per-class accuracy", _per_class(report)),
        ("confusion", "Confusion", _confusion(report)),
    ]


def _first_per_artifact(report: Report) -> list[Validation]:
    seen: dict[str, Validation] = {}
    for v in report.validations:
        if v.per_class or v.confusion:
            seen.setdefault(v.artifact, v)
    return list(seen.values())


def _per_class(report: Report) -> str:
    entries = _first_per_artifact(report)
    if not entries or not entries[0].per_class:
        return k.section("classes", "Per-class accuracy", '<p class="empty">No per-class metrics.</p>')
    base, last = entries[0], entries[-1]
    labels = list(base.per_class)
    chosen = [base] if base is last else [base, last]
    body = ""
    if len(labels) <= MANY_CLASSES and plots.available():
        series = {v.artifact: [v.per_class.get(c, {}).get("recall", 0.0) for c in labels] for v in chosen}
        body += plots.per_class_svg(labels, series)
    rows = []
    for c in labels:
        b, la = base.per_class[c], last.per_class.get(c, {})
        change = la.get("recall", 0.0) - b.get("recall", 0.0)
        cells = [k.esc(c), f"{b.get('support', 0):.0f}", k.pct(b.get("recall"))]
        if last is not base:
            cells += [k.pct(la.get("recall")), k.delta(change)]
        rows.append((change, [*cells, k.pct(la.get("precision")), k.pct(la.get("f1"))]))
    if len(labels) > MANY_CLASSES:
        rows = sorted(rows, key=lambda r: r[0])[:25]
    headers = ["class", "support", f"recall % {base.artifact}"]
    if last is not base:
        headers += [f"recall % {last.artifact}", "Δ recall"]
    headers += [f"precision % {last.artifact}", f"F1 % {last.artifact}"]
    body += k.table([k.esc(h) for h in headers], [r for _, r in rows], numeric=list(range(1, len(headers))))
    if last is base:
        note = f"Recall (the share of each class recognized), precision and F1 of <b>{k.esc(base.artifact)}</b>."
    else:
        note = f"Baseline <b>{k.esc(base.artifact)}</b> against the last artifact <b>{k.esc(last.artifact)}</b>" + (
            f"; the {len(rows)} classes that lost most." if len(labels) > MANY_CLASSES else "."
        )
    return k.section("classes", "Per-class accuracy", body, note)


def _confusion(report: Report) -> str:
    entries = [v for v in _first_per_artifact(report) if v.confusion]
    if not entries or not plots.available():
        return k.section("confusion", "Confusion matrices", '<p class="empty">No confusion matrix.</p>')
    base, last = entries[0], entries[-1]
    mats = {f"{base.artifact} (baseline)": base.confusion}
    if last is not base:
        mats[f"{last.artifact} (last)"] = last.confusion
    labels = report.labels or [str(i) for i in range(len(base.confusion))]
    body = f'<div class="{"plot-narrow" if len(mats) == 1 else ""}">{plots.confusion_svg(mats, labels)}</div>'
    note = (
        "Rows: true class, columns: predicted; numbers are counts. Blue: the share of each true class predicted "
        "correctly; orange: the errors, all shaded on one scale up to the largest error shown."
    )
    return k.section("confusion", "Confusion matrices", body, note)
