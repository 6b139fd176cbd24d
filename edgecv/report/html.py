"""report.html: one self-contained page rendered from a Report only (inline CSS and SVG, no scripts, no network).

Example::

    from edgecv.report.build import load_report
    Path("report.html").write_text(render_html(load_report(Path("runs/quickstart/RUN"))))
"""

from __future__ import annotations

from pathlib import Path

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
from edgecv.report.pareto import int8_notes, recommended
from edgecv.report.schema import Report, Validation, splits_line
from edgecv.report.verdicts import counts
from edgecv.validate.budgets import LATENCY_BATCH

NAV = [
    ("devices", "Devices and budgets"),
    ("stages", "Stages"),
    ("compression", "Compression"),
    ("tradeoff", "Accuracy vs latency"),
    ("classes", "Per-class accuracy"),
    ("confusion", "Confusion"),
    ("parity", "Parity"),
    ("environment", "Environment"),
    ("recipe", "Recipe"),
]
MANY_CLASSES = 40


def render_html(report: Report) -> str:
    """The whole report as one HTML document."""
    body = "".join(
        [
            _devices(report),
            _stages(report),
            compression_section(report),
            _tradeoff(report),
            _per_class(report),
            _confusion(report),
            _parity(report),
            _environment(report),
            _recipe(report),
        ]
    )
    footer = f"edgecv {k.esc(report.edgecv_version)} · rendered from report.json (canonical) · {k.esc(report.created)}"
    return k.page(f"edgecv · {report.name}", _header(report), body, footer)


def _header(report: Report) -> str:
    d = report.data
    meta = [
        ("run", Path(report.run_dir).name),
        ("created", report.created),
        ("recipe hash", report.recipe_hash[:12]),
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
        + "<nav>" + "".join(f'<a href="#{a}">{k.esc(t)}</a>' for a, t in NAV) + "</nav>"
    )


def _devices(report: Report) -> str:
    if not report.validations:
        return k.section("devices", "Devices and budgets", '<p class="empty">No validations in this run.</p>')
    parts = []
    chosen, notes = recommended(report), int8_notes(report)
    for device in dict.fromkeys(v.device for v in report.validations):
        rows = [v for v in report.validations if v.device == device]
        pick = f" · recommended: {k.esc(chosen[device])}" if chosen.get(device) else ""
        parts.append(f"<h3>{k.esc(device)} <small class='sub'>runtime: {k.esc(rows[0].backend)}{pick}</small></h3>")
        parts.append(_device_table(rows))
        parts += [f'<p class="note"><b>INT8 not faster:</b> {k.esc(n["text"])}</p>' for n in notes
                  if n["device"] == device]
    band = estimate_error_label(report)
    note = (
        "Top-1 through ONNX Runtime on this machine (or measured on the device when imported); Δ is against the "
        "first validated artifact (on the device when its top-1 is imported). Latency is p50 per batch in ms: "
        "<b>~</b> marks an estimate from the device profile"
        + (f" (<span class=\"est-band\">{k.esc(band)}</span>)" if band else "")
        + ". Memory is estimated from the ONNX graph (weights + "
        "peak layer activations, batch 1; runtime overhead not included). A column judged against a budget shows "
        "the limit and its source under its title; its cells read ✓ pass, ✗ fail or ? unknown, with the margin "
        "(limit − value; negative is over budget). Recommended: the fastest artifact at batch 1 that fails no "
        "budget, never an INT8 artifact that is not faster than the FP32 model it came from."
    )
    return k.section("devices", "Devices and budgets", "".join(parts), note)


def _device_table(rows: list[Validation]) -> str:
    """One row per artifact; the columns a budget judges (Δ top-1, size, memory, batch-1 latency) are coloured."""
    batches = sorted({r.batch for v in rows for r in [*v.latency, *v.estimated]})
    first = {x.budget: x for v in reversed(rows) for x in v.verdicts}
    device_acc = any(v.metrics.get("device_top1") is not None for v in rows)
    headers = ["artifact", "precision", "top-1 %"] + ["device top-1 %"] * device_acc
    headers += [judged_header("Δ top-1", first.get("max_accuracy_drop")),
                judged_header("size MB", first.get("model_size_mb")),
                judged_header("memory MB", first.get("memory_mb")), "latency"]
    headers += [judged_header(f"batch {b} ms", first.get("latency_ms") if b == LATENCY_BATCH else None)
                for b in batches]
    body = []
    for v in rows:
        got = {x.budget: x for x in v.verdicts}
        drop = got.get("max_accuracy_drop")
        change = -drop.value if drop is not None and drop.value is not None else v.metrics.get("top1_delta")
        row = [k.esc(v.artifact), k.esc(v.precision), k.pct(v.metrics.get("top1"))]
        row += [k.pct(v.metrics.get("device_top1"))] * device_acc
        row += [judged_td(k.delta(change), drop), judged_td(k.mb(v.model_size_mb), got.get("model_size_mb")),
                judged_td(k.mb(v.memory_mb), got.get("memory_mb")), SOURCE_BADGE.get(v.latency_source, "")]
        row += [judged_td(latency_text(v, b), got.get("latency_ms") if b == LATENCY_BATCH else None)
                for b in batches]
        body.append(row)
    source_column = headers.index("latency")
    return k.table(headers, body, numeric=[i for i in range(2, len(headers)) if i != source_column])


def _stages(report: Report) -> str:
    validated = {v.artifact: v.metrics.get("top1") for v in reversed(report.validations)}
    rows, names, sizes, macs = [], [], [], []
    for s in report.stages:
        out = s.outputs[-1] if s.outputs else None
        top1 = s.metrics.get("top1", validated.get(out.name) if out else None)
        rows.append([
            k.esc(s.stage), k.esc(out.name if out else "–"), k.esc(out.format if out else "–"),
            k.esc(out.precision if out else "–"), k.pct(top1), k.count(out.params if out else None),
            k.count(out.macs if out else None), k.mb(out.size_bytes / 1e6) if out else "–", k.seconds(s.seconds),
            k.esc("; ".join(s.warnings)) or "",
        ])
        if out:
            names.append(f"{s.stage} · {out.name}")
            sizes.append(out.size_bytes / 1e6)
            macs.append(out.macs)
    headers = ["stage", "output", "format", "precision", "top-1 %", "params", "MACs", "size MB", "time", "warnings"]
    body = k.table(headers, rows, numeric=[4, 5, 6, 7, 8])
    if names and plots.available():
        body += plots.stage_bars_svg(names, sizes, macs)
    note = "Top-1 of each stage's output on the validation set (the export row: through ONNX Runtime); MACs at batch 1."
    return k.section("stages", "Stages", body, note)


def _tradeoff(report: Report) -> str:
    points = tradeoff_points(report)
    if not points or not plots.available():
        body = '<p class="empty">No artifact has both a batch-1 latency and an accuracy.</p>'
    else:
        body = plots.tradeoff_svg(points, plot_limits(report))
    note = (
        "One panel per device; top-1 is the device's own where imported. Filled markers are measured (here or on "
        "the device), hollow ones estimated from the device profile; ringed points lie on the Pareto front (no "
        "other artifact is both faster and more accurate). Dotted red lines: the latency budget and the lowest "
        "top-1 the accuracy budget allows."
    )
    return k.section("tradeoff", "Accuracy vs latency", body, note)


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
