"""Rich tables for the terminal: a run's summary, a comparison of runs, the device profiles."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgecv.console import results as console
from edgecv.report.markdown import latency_cell
from edgecv.report.metric import column, report_metric, score
from edgecv.report.pareto import int8_notes, recommendation_text, recommended
from edgecv.report.schema import Report
from edgecv.report.verdicts import summary_line, verdicts_cell


def print_summary(report: Report) -> None:
    """Per stage (output, accuracy, size) and per validation (device, accuracy, latency) tables."""
    metric = report_metric(report)
    stages = Table(title=f"{report.name}: stages ({report.status})")
    for name in ("stage", "output", column(metric), "params", "MACs", "size MB", "s"):
        stages.add_column(name)
    for s in report.stages:
        out = s.outputs[-1] if s.outputs else None
        value = s.metrics.get(metric.key)
        stages.add_row(
            s.stage,
            out.name if out else "–",
            f"{value:.2f}" if value is not None else "–",
            f"{out.params:,}" if out and out.params else "–",
            f"{out.macs:,}" if out and out.macs else "–",
            f"{out.size_bytes / 1e6:.3f}" if out else "–",
            f"{s.seconds:.1f}",
        )
    console.print(stages)
    batches = sorted({r.batch for v in report.validations for r in v.latency})
    checks = Table(
        title="validation (latency p50; est. = estimated from the device profile)", caption=summary_line(report)
    )
    for name in ("artifact", "device", "precision", column(metric), *[f"batch {b}" for b in batches], "budgets"):
        checks.add_column(name)
    for v in report.validations:
        value, on_device = score(v, metric), score(v, metric, "device")
        checks.add_row(
            v.artifact,
            v.device,
            v.precision,
            ("–" if value is None else f"{value:.2f}") + ("" if on_device is None else f" (device {on_device:.2f})"),
            *[latency_cell(v, b) for b in batches],
            _colored(verdicts_cell(v)),
        )
    console.print(checks)
    chosen = recommended(report)
    if chosen:
        console.print("recommended (fastest within budgets): "
                      + "; ".join(f"{d}: {recommendation_text(picks)}" for d, picks in chosen.items()))
    for note in int8_notes(report):
        console.print(f"[yellow]INT8 not faster:[/yellow] {escape(note['text'])}")


def _colored(cell: str) -> str:
    """Verdict marks in colour: green pass, red fail, yellow unknown."""
    styles = {"✓": "green", "✗": "bold red", "?": "yellow"}
    return "".join(f"[{styles[c]}]{c}[/{styles[c]}]" if c in styles else c for c in cell)


def print_comparison(reports: list[Report]) -> None:
    """Runs side by side: per run and artifact, the task metric and host latency at each batch size."""
    batches = sorted({r.batch for rep in reports for v in rep.validations for r in v.latency})
    metric = report_metric(reports[0])
    table = Table(title="runs compared")
    for name in ("run", "artifact", "device", column(metric), "size MB", *[f"batch {b}" for b in batches], "budgets"):
        table.add_column(name)
    for rep in reports:
        sizes = {a.name: a.size_bytes for a in rep.artifacts}
        for v in rep.validations:
            value = score(v, report_metric(rep))
            table.add_row(
                rep.run_dir,
                v.artifact,
                v.device,
                f"{value:.2f}" if value is not None else "–",
                f"{sizes.get(v.artifact, 0) / 1e6:.3f}",
                *[latency_cell(v, b) for b in batches],
                _colored(verdicts_cell(v)),
            )
    console.print(table)


def print_devices() -> None:
    """Every device profile's headline figures."""
    from edgecv.devices import list_devices

    table = Table(title="device profiles (`edgecv devices show NAME` for every field)")
    for header in (
        "name",
        "arch",
        "cc",
        "FP16 TFLOPS",
        "INT8 TOPS",
        "memory GB",
        "GB/s",
        "DLA",
        "JetPack",
        "TensorRT",
        "opset",
        "2:4",
    ):
        table.add_column(header)
    for d in list_devices():
        table.add_row(
            d.name,
            d.arch,
            d.compute_capability or "–",
            _fmt(d.peak.fp16_tflops),
            _fmt(d.peak.int8_tops),
            _fmt(d.memory_gb),
            _fmt(d.memory_bandwidth_gbs),
            str(d.dla_cores),
            d.software.jetpack or "–",
            d.software.tensorrt or "–",
            str(d.software.max_onnx_opset),
            "yes" if d.sparsity_2_4 else "no",
        )
    console.print(table)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"
