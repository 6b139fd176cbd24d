"""Several runs side by side as one self-contained HTML page (``edgecv report A B --html PATH``).

Example::

    write_comparison([load_report(Path(a)), load_report(Path(b))], Path("edgecv-compare.html"))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgecv.artifacts import atomic_write_text
from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.html_cells import SOURCE_BADGE, accuracy, judged_td, latency_text, tradeoff_points
from edgecv.report.metric import column, report_metric, score
from edgecv.report.schema import Report, Validation
from edgecv.report.verdicts import counts
from edgecv.validate.budgets import LATENCY_BATCH

if TYPE_CHECKING:
    from edgecv.tasks.base import Metric


def run_labels(reports: list[Report]) -> list[str]:
    """A short unique label per run: its name, plus the run id where names repeat."""
    names = [r.name for r in reports]
    return [r.name if names.count(r.name) == 1 else f"{r.name}/{Path(r.run_dir).name}" for r in reports]


def render_comparison_html(reports: list[Report]) -> str:
    """Runs, then every artifact x device of every run, then one accuracy-vs-latency plot per device."""
    labels = run_labels(reports)
    body = _runs(reports, labels) + _validations(reports, labels) + _tradeoff(reports, labels)
    header = (
        f'<h1><span class="tool">edgecv comparison ·</span> {len(reports)} runs</h1>'
        f'<div class="meta">{"".join(f"<span>{k.esc(label)}</span>" for label in labels)}</div>'
        '<nav><a href="#runs">Runs</a><a href="#validations">Artifacts on devices</a>'
        '<a href="#tradeoff">Accuracy vs latency</a></nav>'
    )
    return k.page("edgecv · comparison", header, body, "edgecv · rendered from each run's report.json")


def write_comparison(reports: list[Report], path: Path) -> Path:
    """Write the comparison page to ``path`` and return it."""
    atomic_write_text(path, render_comparison_html(reports))
    return path


def _runs(reports: list[Report], labels: list[str]) -> str:
    rows = []
    for label, r in zip(labels, reports, strict=True):
        c = counts(r)
        budgets = f"{c[True]} pass · {c[False]} fail · {c[None]} unknown" if sum(c.values()) else "none set"
        rows.append([
            k.esc(label), f'<span class="badge st-{k.esc(r.status)}">{k.esc(r.status)}</span>',
            k.esc(r.created[:16].replace("T", " ")),
            f"<code>{k.esc(r.recipe_hash[:12])}</code>", k.esc(r.recipe.get("model", {}).get("arch", "?")),
            k.seconds(r.total_seconds), budgets, f"<code>{k.esc(r.run_dir)}</code>",
        ])
    headers = ["run", "status", "created", "recipe hash", "model", "stages", "budgets", "folder"]
    return k.section("runs", "Runs", k.table(headers, rows, numeric=[5]))


def _validations(reports: list[Report], labels: list[str]) -> str:
    """One table per device: every run's artifacts, budget-judged cells coloured with their own limits."""
    parts = []
    metric = report_metric(reports[0])
    devices = dict.fromkeys(v.device for r in reports for v in r.validations)
    for device in devices:
        rows = []
        for label, r in zip(labels, reports, strict=True):
            for v in (v for v in r.validations if v.device == device):
                got = {x.budget: x for x in v.verdicts}
                rows.append([
                    k.esc(label), k.esc(v.artifact), k.esc(v.precision), k.pct(accuracy(v, r)),
                    judged_td(k.mb(v.model_size_mb), got.get("model_size_mb"), True),
                    judged_td(k.mb(v.memory_mb), got.get("memory_mb"), True),
                    SOURCE_BADGE.get(v.latency_source, ""),
                    judged_td(latency_text(v, LATENCY_BATCH), got.get("latency_ms"), True),
                    judged_td(k.delta(_change(v, metric)), got.get("max_accuracy_drop"), True),
                ])
        headers = ["run", "artifact", "precision", column(metric), "size MB", "memory MB", "latency",
                   f"batch {LATENCY_BATCH} p50 ms", column(metric, "Δ ")]
        parts.append(f"<h3>{k.esc(device)}</h3>" + k.table(headers, rows, numeric=[3, 4, 5, 7, 8]))
    note = (
        f"{metric.label.capitalize()} measured on the device where imported; <b>~</b> marks an estimated latency; "
        f"Δ {metric.label} is against each run's own baseline. Cells judged against a budget are coloured and show "
        "the margin and the run's limit."
    )
    return k.section("validations", "Artifacts on devices", "".join(parts), note)


def _change(v: Validation, metric: Metric) -> float | None:
    drop = next((x for x in v.verdicts if x.budget == "max_accuracy_drop" and x.value is not None), None)
    return -drop.value if drop is not None else score(v, metric, "delta")


def _tradeoff(reports: list[Report], labels: list[str]) -> str:
    points = [p for label, r in zip(labels, reports, strict=True) for p in tradeoff_points(r, label)]
    if not points or not plots.available():
        return k.section("tradeoff", "Accuracy vs latency", '<p class="empty">Nothing to plot.</p>')
    note = "Colour: run. Filled: measured; hollow: estimated. Ringed: the Pareto front across all runs."
    metric = report_metric(reports[0])
    svg = plots.tradeoff_svg(points, {}, f"{metric.label} ({metric.unit})")
    return k.section("tradeoff", "Accuracy vs latency", svg, note)
