"""report.html: one self-contained page rendered from a Report only (inline CSS and SVG, no scripts, no network).

Example::

    from edgecv.report.build import load_report
    Path("report.html").write_text(render_html(load_report(Path("runs/quickstart/RUN"))))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.html_cells import (
    SOURCE_BADGE,
    estimate_error_label,
    judged_header,
    judged_td,
    latency_text,
    plot_limits,
    tradeoff_points,
)
from edgecv.report.html_compression import compression_section
from edgecv.report.metric import column, report_metric, score, task_of
from edgecv.report.pareto import int8_notes, recommendation_text, recommended
from edgecv.report.schema import Report, Validation, model_line, splits_line
from edgecv.report.verdicts import counts
from edgecv.validate.budgets import LATENCY_BATCH

if TYPE_CHECKING:
    from edgecv.tasks.base import Metric

NAV = [
    ("devices", "Devices and budgets"),
    ("stages", "Stages"),
    ("compression", "Compression"),
    ("tradeoff", "Accuracy vs latency"),
    ("parity", "Parity"),
    ("environment", "Environment"),
    ("recipe", "Recipe"),
]


def render_html(report: Report) -> str:
    """The whole report as one HTML document; the task adds its own sections after the trade-off plot."""
    task_sections = task_of(report).report_sections(report)
    body = "".join(
        [
            _devices(report),
            _stages(report),
            compression_section(report),
            _tradeoff(report),
            *(html for _, _, html in task_sections),
            _parity(report),
            _environment(report),
            _recipe(report),
        ]
    )
    nav = [*NAV[:4], *((anchor, title) for anchor, title, _ in task_sections), *NAV[4:]]
    footer = f"edgecv {k.esc(report.edgecv_version)} · rendered from report.json (canonical) · {k.esc(report.created)}"
    return k.page(f"edgecv · {report.name}", _header(report, nav), body, footer)


def _header(report: Report, nav: list[tuple[str, str]]) -> str:
    d = report.data
    meta = [
        ("run", Path(report.run_dir).name),
        ("created", report.created),
        ("recipe hash", report.recipe_hash[:12]),
        ("model", model_line(report)),
        ("data", f"{d.get('source', '?')}, {splits_line(d)}"),
        ("decisions", str(d.get("decisions", "not recorded (a run made before the selection split)"))),
        ("seeds", ", ".join(f"{name} {value}" for name, value in (d.get("seeds") or {}).items()) or "not recorded"),
        ("stages", k.seconds(report.total_seconds)),
        ("edgecv", report.edgecv_version),
    ]
    c = counts(report)
    chips = (
        f'<span class="chip pass">{c[True]} pass</span><span class="chip fail">{c[False]} fail</span>'
        f'<span class="chip unknown">{c[None]} unknown</span>'
        if sum(c.values())
        else '<span class="chip unknown">no budgets set</span>'
    )
    return (
        f'<h1><span class="tool">edgecv report ·</span> {k.esc(report.name)} '
        f'<span class="badge st-{k.esc(report.status)}">{k.esc(report.status)}</span></h1>'
        f'<div class="meta">{"".join(f"<span><b>{a}</b>{k.esc(b)}</span>" for a, b in meta)}</div>'
        f'<div class="chips">{chips}</div>'
        + "<nav>" + "".join(f'<a href="#{a}">{k.esc(t)}</a>' for a, t in nav) + "</nav>"
    )


def _devices(report: Report) -> str:
    if not report.validations:
        return k.section("devices", "Devices and budgets", '<p class="empty">No validations in this run.</p>')
    parts = []
    metric = report_metric(report)
    chosen, notes = recommended(report), int8_notes(report)
    for device in dict.fromkeys(v.device for v in report.validations):
        rows = [v for v in report.validations if v.device == device]
        pick = f" · recommended: {k.esc(recommendation_text(chosen[device]))}" if chosen.get(device) else ""
        parts.append(f"<h3>{k.esc(device)} <small class='sub'>runtime: {k.esc(rows[0].backend)}{pick}</small></h3>")
        parts.append(_device_table(rows, metric))
        parts += [f'<p class="note"><b>INT8 not faster:</b> {k.esc(n["text"])}</p>' for n in notes
                  if n["device"] == device]
    band = estimate_error_label(report)
    note = (
        f"{metric.label.capitalize()} through ONNX Runtime on this machine (or measured on the device when imported); "
        f"Δ is against the first validated artifact (on the device when its {metric.label} is imported). Latency is "
        "p50 per batch in ms: "
        "<b>~</b> marks an estimate from the device profile"
        + (f" (<span class=\"est-band\">{k.esc(band)}</span>)" if band else "")
        + ". Memory is estimated from the ONNX graph (weights + "
        "peak layer activations, batch 1; runtime overhead not included). A column judged against a budget shows "
        "the limit and its source under its title; its cells read ✓ pass, ✗ fail or ? unknown, with the margin "
        "(limit − value; negative is over budget). Recommended: the fastest artifact at each batch size that fails "
        "no budget, never an INT8 artifact that is not faster there than the FP32 model it came from."
    )
    return k.section("devices", "Devices and budgets", "".join(parts), note)


def _device_table(rows: list[Validation], metric: Metric) -> str:
    """One row per artifact; the columns a budget judges (Δ metric, size, memory, batch-1 latency) are coloured."""
    batches = sorted({r.batch for v in rows for r in [*v.latency, *v.estimated]})
    first = {x.budget: x for v in reversed(rows) for x in v.verdicts}
    device_acc = any(score(v, metric, "device") is not None for v in rows)
    headers = ["artifact", "precision", column(metric)] + [column(metric, "device ")] * device_acc
    headers += [judged_header(column(metric, "Δ "), first.get("max_accuracy_drop")),
                judged_header("size MB", first.get("model_size_mb")),
                judged_header("memory MB", first.get("memory_mb")), "latency"]
    headers += [judged_header(f"batch {b} ms", first.get("latency_ms") if b == LATENCY_BATCH else None)
                for b in batches]
    body = []
    for v in rows:
        got = {x.budget: x for x in v.verdicts}
        drop = got.get("max_accuracy_drop")
        change = -drop.value if drop is not None and drop.value is not None else score(v, metric, "delta")
        row = [k.esc(v.artifact), k.esc(v.precision), k.pct(score(v, metric))]
        row += [k.pct(score(v, metric, "device"))] * device_acc
        row += [judged_td(k.delta(change), drop), judged_td(k.mb(v.model_size_mb), got.get("model_size_mb")),
                judged_td(k.mb(v.memory_mb), got.get("memory_mb")), SOURCE_BADGE.get(v.latency_source, "")]
        row += [judged_td(latency_text(v, b), got.get("latency_ms") if b == LATENCY_BATCH else None)
                for b in batches]
        body.append(row)
    source_column = headers.index("latency")
    return k.table(headers, body, numeric=[i for i in range(2, len(headers)) if i != source_column])


def _stages(report: Report) -> str:
    metric = report_metric(report)
    validated = {v.artifact: score(v, metric) for v in reversed(report.validations)}
    rows, names, sizes, macs = [], [], [], []
    for s in report.stages:
        out = s.outputs[-1] if s.outputs else None
        value = s.metrics.get(metric.key, validated.get(out.name) if out else None)
        rows.append([
            k.esc(s.stage), k.esc(out.name if out else "–"), k.esc(out.format if out else "–"),
            k.esc(out.precision if out else "–"), k.pct(value), k.count(out.params if out else None),
            k.count(out.macs if out else None), k.mb(out.size_bytes / 1e6) if out else "–", k.seconds(s.seconds),
            k.esc("; ".join(s.warnings)) or "",
        ])
        if out:
            names.append(f"{s.stage} · {out.name}")
            sizes.append(out.size_bytes / 1e6)
            macs.append(out.macs)
    headers = ["stage", "output", "format", "precision", column(metric), "params", "MACs", "size MB", "time",
               "warnings"]
    body = k.table(headers, rows, numeric=[4, 5, 6, 7, 8])
    if names and plots.available():
        body += plots.stage_bars_svg(names, sizes, macs)
    note = (f"{metric.label.capitalize()} of each stage's output on the validation set (the export row: through ONNX "
            "Runtime); MACs at batch 1.")
    return k.section("stages", "Stages", body, note)


def _tradeoff(report: Report) -> str:
    points = tradeoff_points(report)
    if not points or not plots.available():
        body = '<p class="empty">No artifact has both a batch-1 latency and an accuracy.</p>'
    else:
        metric = report_metric(report)
        body = plots.tradeoff_svg(points, plot_limits(report), f"{metric.label} ({metric.unit})")
    note = (
        "One panel per device; the metric is the device's own where imported. Filled markers are measured (here or on "
        "the device), hollow ones estimated from the device profile; ringed points lie on the Pareto front (no "
        "other artifact is both faster and more accurate). Dotted red lines: the latency budget and the lowest "
        "value the accuracy budget allows."
    )
    return k.section("tradeoff", "Accuracy vs latency", body, note)


def _parity(report: Report) -> str:
    if not report.parity:
        return k.section("parity", "Parity", '<p class="empty">No parity checks in this run.</p>')
    state = {"pass": ("v-pass", "✓ pass"), "warn": ("v-unknown", "⚠ WARN"), "fail": ("v-fail", "✗ FAIL")}
    rows = []
    for p in report.parity:
        css, label = state["pass" if p.passed else p.mode]
        confident = "-" if p.confident_top1_agreement is None else \
            f"{p.confident_top1_agreement * 100:.2f} <small>({p.confident_samples}/{p.samples})</small>"
        rows.append([
            k.esc(p.reference), k.esc(p.candidate), str(p.samples), f"{p.max_abs_diff:.2e}", f"{p.mean_abs_diff:.2e}",
            f"{p.min_cosine:.6f}", f"{p.top1_agreement * 100:.2f}", confident,
            "-" if p.top1_diff is None else f"{p.top1_diff:+.2f}",
            f'<td class="{css}">{label}<small>{k.esc(p.reason)}</small></td>',
        ])
    headers = ["reference", "candidate", "samples", "max |diff|", "mean |diff|", "min cosine", "top-1 agree %",
               "confident agree %", "top-1 diff pt", "result"]
    note = ("Each exported model's outputs against its parent's on the same validation images. Confident: the "
            "samples whose reference top-2 margin is not a near tie; only they count against agreement.")
    return k.section("parity", "Parity", k.table(headers, rows, numeric=[2, 3, 4, 5, 6, 7, 8]), note)


def _environment(report: Report) -> str:
    env = report.environment
    facts = [("Python", env.python), ("platform", env.platform), ("machine", env.machine), ("CPU", env.cpu or "?"),
             ("cores", str(env.cpu_count))]
    facts += [(f"{name.replace('_', ' ')} threads", str(count)) for name, count in env.threads.items()]
    facts += sorted(env.libraries.items())
    body = '<dl class="kv">' + "".join(f"<dt>{k.esc(a)}</dt><dd>{k.esc(b)}</dd>" for a, b in facts) + "</dl>"
    return k.section("environment", "Environment", body, "Where the run ran and the library versions it used.")


def _recipe(report: Report) -> str:
    text = yaml.safe_dump(report.recipe, sort_keys=False, allow_unicode=True)
    body = (
        f"<details><summary>Resolved recipe (sha256 <code>{k.esc(report.recipe_hash[:16])}…</code>)</summary>"
        f"<pre>{k.esc(text)}</pre></details>"
    )
    return k.section("recipe", "Recipe", body, "Defaults filled in and paths resolved: exactly what the run did.")
