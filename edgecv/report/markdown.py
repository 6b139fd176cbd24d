"""report.md: the report as tables a person reads in a terminal or a pull request. Rendered from Report only."""

from __future__ import annotations

from edgecv.report.schema import Report, Validation


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float | int | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def latency_cell(v: Validation, batch: int) -> str:
    """``1.23 ms`` for a measured p50, ``~1.23 ms (est.)`` for an estimate, ``–`` when unknown."""
    for r in v.latency:
        if r.batch == batch:
            return f"{r.p50_ms:.3f} ms" if r.measured else f"~{r.p50_ms:.3f} ms (est.)"
    return "–"


def render_markdown(report: Report) -> str:
    """The whole report as markdown."""
    out = [
        f"# edgecv report: {report.name}",
        "",
        f"Status **{report.status}**, {report.total_seconds:.1f} s of stages, recipe hash `{report.recipe_hash[:12]}`, "
        f"edgecv {report.edgecv_version}. Data: {report.data.get('source', '?')} "
        f"({report.data.get('train_images', '?')} train / {report.data.get('val_images', '?')} val images).",
        "",
    ]
    out += [
        "## Stages",
        "",
        _table(
            ["stage", "output", "format", "top-1 %", "params", "MACs", "size", "seconds"],
            [
                [
                    s.stage,
                    s.output.name if s.outputs else "–",
                    s.output.format if s.outputs else "–",
                    _num(s.metrics.get("top1")),
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
    batches = sorted({r.batch for v in report.validations for r in v.latency})
    out += [
        "## Validation",
        "",
        "Accuracy of the exported artifact through its runtime; latency p50 per batch "
        "(measured on this machine, or estimated from the device profile: marked est.).",
        "",
        _table(
            ["artifact", "device", "precision", "top-1 %", "top-5 %", *[f"batch {b}" for b in batches]],
            [
                [
                    v.artifact,
                    v.device,
                    v.precision,
                    _num(v.metrics.get("top1")),
                    _num(v.metrics.get("top5")),
                    *[latency_cell(v, b) for b in batches],
                ]
                for v in report.validations
            ],
        ),
        "",
    ]
    if report.parity:
        out += [
            "## Parity",
            "",
            _table(
                ["reference", "candidate", "samples", "max abs diff", "min cosine", "top-1 agreement", "result"],
                [
                    [
                        p.reference,
                        p.candidate,
                        str(p.samples),
                        f"{p.max_abs_diff:.2e}",
                        f"{p.min_cosine:.6f}",
                        f"{p.top1_agreement:.4f}",
                        "pass" if p.passed else f"FAIL: {p.reason}",
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
    return "\n".join(out)
