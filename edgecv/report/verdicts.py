"""Budget verdicts as short text, shared by report.md, the terminal tables and report.html."""

from __future__ import annotations

from edgecv.report.schema import Report, Validation, Verdict
from edgecv.validate.budgets import LABELS, UNITS

MARK = {True: "✓", False: "✗", None: "?"}
STATE = {True: "pass", False: "FAIL", None: "unknown"}


def margin_text(x: Verdict) -> str:
    """``+0.12 ms`` (room to spare) or ``-0.21 ms`` (over), ``unknown`` without a value."""
    if x.margin is None:
        return "unknown"
    return f"{x.margin:+.3g} {UNITS[x.budget]}"


def verdict_short(x: Verdict) -> str:
    """``✓ latency +0.12 ms``: the mark, the budget and the margin."""
    return f"{MARK[x.passed]} {LABELS[x.budget]} {margin_text(x)}"


def verdicts_cell(v: Validation) -> str:
    """Every verdict of one validation, comma separated; ``–`` when no budget is set."""
    return ", ".join(verdict_short(x) for x in v.verdicts) or "–"


def counts(report: Report) -> dict[bool | None, int]:
    """How many verdicts passed (True), failed (False) and are unknown (None)."""
    out: dict[bool | None, int] = {True: 0, False: 0, None: 0}
    for v in report.validations:
        for x in v.verdicts:
            out[x.passed] += 1
    return out


def summary_line(report: Report) -> str:
    """``budgets: 5 pass, 1 FAIL, 0 unknown`` or ``budgets: none set``."""
    c = counts(report)
    if not sum(c.values()):
        return "budgets: none set (report.budgets in the recipe, or budgets in a device profile)"
    return f"budgets: {c[True]} pass, {c[False]} FAIL, {c[None]} unknown"
