"""report.md: the report as tables a person reads in a terminal or a pull request. Rendered from Report only."""

from __future__ import annotations

from edgecv.report.html_cells import estimate_error_label
from edgecv.report.metric import column, headline_metrics, report_metric, score
from edgecv.report.pareto import int8_notes, recommendation_text, recommended
from edgecv.report.quantization import HEADERS as QUANTIZATION_HEADERS
from edgecv.report.quantization import quantization_rows
from edgecv.report.schema import Report, Validation, model_line, splits_line
from edgecv.report.verdicts import STATE, margin_text, summary_line
from edgecv.validate.budgets import UNITS
from edgecv.validate.parity import ParityResult


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float | int | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def latency_cell(v: Validation, batch: int) -> str:
    """``1.23 ms`` measured here, ``1.23 ms (device; est. ~0.90)`` imported, ``~1.23 ms (est.)``, ``–``."""
    estimate = next((e.p50_ms for e in v.estimated if e.batch == batch), None)
    for r in v.latency:
        if r.batch == batch:
            if not r.measured:
                return f"~{r.p50_ms:.3f} ms (est.)"
            if v.latency_source == "imported":
                return f"{r.p50_ms:.3f} ms (device" + (f"; est. ~{estimate:.3f})" if estimate is not None else ")")
            return f"{r.p50_ms:.3f} ms"
    return f"~{estimate:.3f} ms (est.)" if estimate is not None else "–"


def _budgets(report: Report) -> list[str]:
    rows = [
        [
            v.artifact,
            v.device,
            x.budget,
            f"{x.limit:g} {UNITS[x.budget]}",
            _num(x.value, "{:.4g}"),
            margin_text(x),
            x.source,
            STATE[x.passed],
            x.detail,
        ]
        for v in report.validations
        for x in v.verdicts
    ]
    out = ["## Budgets", "", summary_line(report) + ". Margin = limit - value; positive is room to spare.", ""]
    if rows:
        header = ["artifact", "device", "budget", "limit", "value", "margin", "source", "result", "value is"]
        out += [_table(header, rows), ""]
    return out


def _recommendation(report: Report) -> list[str]:
    """Per device, the artifact to ship (fastest within budgets, per batch size), and the INT8 artifacts that do not
    pay."""
    chosen = recommended(report)
    if not chosen:
        return []
    out = ["Recommended (the fastest artifact that meets its budgets): " + "; ".join(
        f"{device}: {recommendation_text(picks)}" for device, picks in chosen.items()) + ".", ""]
    notes = int8_notes(report)
    if notes:
        out += ["### INT8 not faster than FP32", "", *[f"- {n['text']}" for n in notes], ""]
    return out


def _distributed_lines(report: Report) -> list[str]:
    """One line per multi-process training loop: processes, batch per process and effective, lr rule and value."""
    lines = []
    for stage in report.stages:
        loops = [stage.metrics.get("distributed"), *(r.get("distributed") for r in stage.metrics.get("rounds", [])),
                 *((s.get("qat") or {}).get("distributed") for s in stage.metrics.get("schemes", []))]
        for d in filter(None, loops):
            lines.append(f"- {stage.stage}: {d['processes']} processes ({d['backend']}), "
                         f"batch {d['per_process_batch']} per process, effective {d['effective_batch']} "
                         f"(batch_size_is: {d['batch_size_is']}, accumulate {d.get('accumulate', 1)}), "
                         f"lr {d['lr']:g} (recipe {d['recipe_lr']:g}, lr_scaling: {d['lr_scaling']}), "
                         "final weights equal on every rank")
    return ["## Multi-process training", "", *lines, ""] if lines else []


def render_markdown(report: Report) -> str:
    """The whole report as markdown."""
    metric, headline = report_metric(report), headline_metrics(report)
    out = [
        f"# edgecv report: {report.name}",
        "",
        f"Status **{report.status}**, {report.total_seconds:.1f} s of stages, recipe hash `{report.recipe_hash[:12]}`, "
        f"edgecv {report.edgecv_version}. Model: {model_line(report)}. Data: {report.data.get('source', '?')} "
        f"({splits_line(report.data)}).",
        "",
    ]
    if report.data.get("decisions"):
        out += [f"Decisions: {report.data['decisions']} (selection: {report.data.get('selection')}).", ""]
    out += [
        "## Stages",
        "",
        _table(
            ["stage", "output", "format", column(metric), "params", "MACs", "size", "seconds"],
            [
                [
                    s.stage,
                    s.output.name if s.outputs else "–",
                    s.output.format if s.outputs else "–",
                    _num(s.metrics.get(metric.key)),
                    _num(s.output.params, "{:,}") if s.outputs else "–",
                    _num(s.output.macs, "{:,}") if s.outputs else "–",
                    _num(s.output.size_bytes / 1e6, "{:.3f} MB") if s.outputs else "–",
                    f"{s.seconds:.1f}",
                ]
                for s in report.stages
            ],
        ),
        "",
    ]
    out += _distributed_lines(report)
    if rows := quantization_rows(report):
        out += ["## Quantization", "", "What each INT8 artifact's settings resolved to on this machine (auto settings "
                "depend on the CPU and the scheme) and what accuracy control chose on the selection split.", "",
                _table(QUANTIZATION_HEADERS, rows), ""]
    batches = sorted({r.batch for v in report.validations for r in v.latency})
    out += [
        "## Validation",
        "",
        "Accuracy of the exported artifact through its runtime; latency p50 per batch "
        "(measured on this machine, measured on the device when imported, or estimated from the device "
        "profile: marked est.); memory is estimated (weights + peak activations at batch 1).",
        *(["", f"Estimates (est.): {band}."] if (band := estimate_error_label(report)) else []),
        "",
        _table(
            ["artifact", "device", "precision", *[column(m) for m in headline], column(metric, "device "),
             "size MB", "memory MB",
             *[f"batch {b}" for b in batches]],
            [
                [
                    v.artifact,
                    v.device,
                    v.precision,
                    *[_num(score(v, m)) for m in headline],
                    _num(score(v, metric, "device")),
                    _num(v.model_size_mb, "{:.3f}"),
                    _num(v.memory_mb, "{:.3f}"),
                    *[latency_cell(v, b) for b in batches],
                ]
                for v in report.validations
            ],
        ),
        "",
    ]
    out += _recommendation(report)
    out += _budgets(report)
    if report.parity:
        out += [
            "## Parity",
            "",
            _table(
                ["reference", "candidate", "samples", "max abs diff", "min cosine", "top-1 agreement",
                 "confident agreement", "top-1 diff", "result"],
                [
                    [
                        p.reference,
                        p.candidate,
                        str(p.samples),
                        f"{p.max_abs_diff:.2e}",
                        f"{p.min_cosine:.6f}",
                        f"{p.top1_agreement:.4f}",
                        _confident(p),
                        "-" if p.top1_diff is None else f"{p.top1_diff:+.2f} pt",
                        p.verdict,
                    ]
                    for p in report.parity
                ],
            ),
            "",
        ]
    env = report.environment
    out += [
        "## Environment",
        "",
        f"Python {env.python} on {env.platform}, {env.cpu} ({env.cpu_count} cores).",
        "",
        ", ".join(f"{k} {v}" for k, v in env.libraries.items()),
        "",
    ]
    if env.threads:
        out += [", ".join(f"{k.replace('_', ' ')} threads {v}" for k, v in env.threads.items()) + ".", ""]
    return "\n".join(out)


def _confident(p: ParityResult) -> str:
    """Agreement on the samples that are not near ties, with how many they are."""
    if p.confident_samples is None:
        return "-"
    agree = "-" if p.confident_top1_agreement is None else f"{p.confident_top1_agreement:.4f}"
    return f"{agree} ({p.confident_samples}/{p.samples})"
