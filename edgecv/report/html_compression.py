"""The "Compression" section of report.html: what the training, pruning and quantization stages decided.

Training curves (the task metric on the selection split per epoch of every stage that trained: what chose the
best epoch), the
residual blocks depth pruning removed and the channel-pruning rounds, and the layer sensitivity ranking of
accuracy-controlled quantization.
"""

from __future__ import annotations

from typing import Any

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.metric import report_metric
from edgecv.report.quantization import HEADERS as QUANTIZATION_HEADERS
from edgecv.report.quantization import quantization_rows
from edgecv.report.schema import Report

RANKING_ROWS = 15


def training_curves(report: Report) -> dict[str, list[float]]:
    """``{stage: [selection metric per epoch]}`` for the stages whose metrics carry an epoch history."""
    curves = {}
    for stage in report.stages:
        history = stage.metrics.get("history") or []
        values = [_epoch_score(h) for h in history if isinstance(h, dict) and _epoch_score(h) is not None]
        if values:
            curves[stage.stage] = values
    return curves


def _epoch_score(row: dict[str, Any]) -> float | None:
    """One epoch's metric on the split that chose the best epoch (``val_top1`` in runs made before the split)."""
    value = row.get("selection", row.get("selection_top1", row.get("val_top1")))
    return None if value is None else float(value)


def _round(row: dict[str, Any], what: str) -> float | None:
    """A pruning round's metric after ``what`` (``top1_<what>`` in runs made before the task seam)."""
    return row.get(what, row.get(f"top1_{what}"))


def _pruning(stage_name: str, metrics: dict[str, Any], label: str) -> str:
    parts = []
    removed = metrics.get("removed_blocks") or []
    if removed:
        rows = [[str(i + 1), k.esc(r["block"]), f"{r['kl_divergence']:.4f}"] for i, r in enumerate(removed)]
        parts.append(f"<h3>{k.esc(stage_name)}: residual blocks removed</h3>"
                     + k.table(["order", "block", "KL from unpruned predictions"], rows, numeric=[0, 2]))
    rounds = metrics.get("rounds") or []
    if rounds:
        rows = [[str(r["step"]), k.pct(r["macs_fraction"] * 100), k.pct(r["params_fraction"] * 100),
                 k.pct(_round(r, "pruned")), k.pct(_round(r, "bn_recalibrated")), k.pct(_round(r, "finetuned"))]
                for r in rounds]
        parts.append(f"<h3>{k.esc(stage_name)}: channel pruning (rounded to {k.esc(metrics.get('round_to'))})</h3>"
                     + k.table(["step", "MACs %", "params %", f"{label} pruned", "BatchNorm re-estimated",
                                "fine-tuned"], rows, numeric=[0, 1, 2, 3, 4, 5]))
    return "".join(parts)


def _ranking(stage_name: str, metrics: dict[str, Any]) -> str:
    parts = []
    for details in metrics.get("schemes") or []:
        ranking = (details.get("accuracy_control") or {}).get("ranking") or []
        if not ranking:
            continue
        scheme = details.get("scheme", "")
        rows = [[str(i + 1), k.esc(r.get("name")), f"{r.get('score', 0):.4g}", "float" if r.get("kept_float") else
                 "int8"] for i, r in enumerate(ranking[:RANKING_ROWS])]
        parts.append(f"<h3>{k.esc(stage_name)} ({k.esc(scheme)}): most sensitive layers</h3>"
                     + k.table(["rank", "layer", "sensitivity", "kept as"], rows, numeric=[0, 2]))
    return "".join(parts)


def compression_section(report: Report) -> str:
    """The section's HTML; an 'empty' note when no stage trained, pruned or ranked layers."""
    body = ""
    curves = training_curves(report)
    if curves and plots.available():
        metric = report_metric(report)
        body += plots.training_curves_svg(curves, f"selection {metric.label} ({metric.unit})")
    for stage in report.stages:
        if stage.kind == "prune":
            body += _pruning(stage.stage, stage.metrics, report_metric(report).label)
        elif stage.kind == "quantize":
            body += _ranking(stage.stage, stage.metrics)
    if rows := quantization_rows(report):
        body += ("<h3>Quantization settings as resolved on this machine</h3>"
                 + k.table(QUANTIZATION_HEADERS, [[k.esc(cell) for cell in row] for row in rows]))
    if not body:
        body = '<p class="empty">No stage trained, pruned or ranked layers in this run.</p>'
    note = (f"{report_metric(report).label.capitalize()} on the selection split after each epoch of every training "
            "stage (it chose the best epoch); what pruning removed; quantization settings and sensitivity.")
    return k.section("compression", "Compression", body, note)
