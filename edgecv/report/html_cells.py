"""Pieces of report.html shared by a run's report and the comparison page: cells, plot inputs."""

from __future__ import annotations

from edgecv.report.htmlkit import esc, ms
from edgecv.report.metric import report_metric, shown_score
from edgecv.report.plots import TradeoffPoint
from edgecv.report.schema import Report, Validation, Verdict
from edgecv.report.verdicts import MARK
from edgecv.validate.budgets import LATENCY_BATCH, UNITS, baseline_score, latency_at

SOURCE_BADGE = {
    "measured": '<span class="badge src-measured">measured</span>',
    "imported": '<span class="badge src-device">on device</span>',
    "estimated": '<span class="badge src-estimated">estimated</span>',
    "none": '<span class="badge src-estimated">none</span>',
}
_STATE = {True: "v-pass", False: "v-fail", None: "v-unknown"}


def accuracy(v: Validation, report: Report) -> float | None:
    """The task metric that counts for a device: measured on it when imported, else through ONNX Runtime here."""
    return shown_score(v, report_metric(report))


def latency_text(v: Validation, batch: int) -> str:
    """p50 at ``batch``: ``~`` marks an estimate; an imported measurement shows the estimate under it."""
    value = next((r for r in v.latency if r.batch == batch), None)
    estimate = next((r.p50_ms for r in v.estimated if r.batch == batch), None)
    if value is None:
        return f"~{ms(estimate)}" if estimate is not None else "–"
    text = ms(value.p50_ms) if value.measured else f"~{ms(value.p50_ms)}"
    if v.latency_source == "imported" and estimate is not None:
        text += f'<span class="sub">est. ~{ms(estimate)}</span>'
    return text


def estimate_error_label(report: Report) -> str | None:
    """The estimator's measured out-of-sample error, to print beside estimated latencies; None without estimates.

    Read from an estimate's detail in report.json (``error_band``); a report written before it was recorded gets
    the current band, ``edgecv.validate.estimate.OUT_OF_SAMPLE_ERROR``.
    """
    estimated = [v for v in report.validations if v.latency_source == "estimated" or v.estimated]
    for v in estimated:
        for detail in v.estimate_detail.values():
            if isinstance(detail, dict) and detail.get("error_band"):
                return str(detail["error_band"])
    if not estimated:
        return None
    from edgecv.validate.estimate import OUT_OF_SAMPLE_ERROR

    return OUT_OF_SAMPLE_ERROR.label


def latency_td(v: Validation, batch: int) -> str:
    return f'<td class="num">{latency_text(v, batch)}</td>'


def judged_td(text: str, x: Verdict | None, with_limit: bool = False) -> str:
    """A numeric cell; with a verdict, colour-coded (pass, fail, unknown) with its mark and margin under it
    (and the limit, where the column header cannot carry it)."""
    if x is None:
        return f'<td class="num">{text}</td>'
    margin = "unknown" if x.margin is None else f"margin {x.margin:+.3g}".replace("-", "−")
    if with_limit:
        margin += f"<br>≤ {x.limit:g} · {esc(x.source)}"
    return (
        f'<td class="num {_STATE[x.passed]}" title="{esc(x.detail)}">{MARK[x.passed]} {text}'
        f"<small>{margin}</small></td>"
    )


def judged_header(title: str, x: Verdict | None) -> str:
    """A column title, with ``≤ 0.1 ms · recipe`` under it when the column is judged against a budget."""
    if x is None:
        return title
    return f'{title}<span class="sub">≤ {x.limit:g} {UNITS[x.budget]} · {esc(x.source)}</span>'


def tradeoff_points(report: Report, group: str = "") -> list[TradeoffPoint]:
    """One point per validation with a batch-1 latency and an accuracy."""
    points = []
    for v in report.validations:
        lat, value = latency_at(v, LATENCY_BATCH), accuracy(v, report)
        if lat is not None and value is not None and lat > 0:
            measured = v.latency_source in ("measured", "imported")
            points.append(TradeoffPoint(v.device, v.artifact, lat, value, measured, group))
    return points


def plot_limits(report: Report) -> dict[str, tuple[float | None, float | None]]:
    """Per device: (latency budget ms, lowest allowed metric) from the verdicts, for the trade-off plot."""
    metric = report_metric(report)
    baseline = baseline_score(report.validations, metric)
    limits: dict[str, tuple[float | None, float | None]] = {}
    for v in report.validations:
        found = {x.budget: x.limit for x in v.verdicts}
        drop = found.get("max_accuracy_drop")
        floor = None
        if drop is not None and baseline is not None:
            floor = baseline - drop if metric.higher_is_better else baseline + drop
        limits.setdefault(v.device, (found.get("latency_ms"), floor))
    return limits
