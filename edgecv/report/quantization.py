"""What each quantize stage settled on per scheme: how weights are stored, the activation range estimator, what
accuracy control chose between on the selection split, and which layers stayed float.

``auto`` settings resolve per CPU and scheme (``edgecv.quantize.cpu_isa``), so the report says what they became
rather than leaving the user to dig through ``metrics.schemes``.

Example::

    quantization_rows(report)
    # [["01-quantize", "int8-ort-cpu", "onnxruntime-cpu", "int8, half range", "minmax",
    #   "weights: int8 85.76 kept", "0"]]
"""

from __future__ import annotations

from typing import Any

from edgecv.report.schema import Report

HEADERS = ["stage", "artifact", "scheme", "weights", "range estimator", "chosen on selection", "float layers"]
TRIED = {"weight_types_tried": "weights", "range_estimators_tried": "range"}


def _choices(scheme: dict[str, Any]) -> str:
    """``weights: int8 85.76, uint8 86.16 -> uint8 kept``; ``–`` when the recipe left nothing to choose."""
    parts = []
    for key, label in TRIED.items():
        tried = scheme.get(key)
        if tried:
            scores = ", ".join(f"{name} {value:.2f}" for name, value in tried["selection_scores"].items())
            parts.append(f"{label}: {scores or 'one candidate, not scored'} -> {tried['chosen']} kept")
    return "; ".join(parts) or "–"


def _float_layers(scheme: dict[str, Any]) -> str:
    names = scheme.get("float_layers") or []
    return f"{len(names)}" + (f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if names else "")


def quantization_rows(report: Report) -> list[list[str]]:
    """One row per INT8 artifact of every quantize stage (plain text; FP16 stages have none)."""
    rows = []
    for stage in report.stages:
        if stage.kind != "quantize":
            continue
        for scheme in stage.metrics.get("schemes") or []:
            if "weight_type" not in scheme:
                continue
            rows.append([stage.stage, str(scheme.get("artifact", "?")), str(scheme.get("scheme", "?")),
                         f"{scheme['weight_type']}, {scheme.get('weight_range', '?')} range",
                         str(scheme.get("range_estimator", "?")), _choices(scheme), _float_layers(scheme)])
    return rows
