"""The Pareto front of (latency, accuracy) points, and the artifact the report recommends per device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgecv.report.schema import Report
from edgecv.validate.budgets import LATENCY_BATCH, latency_at


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats, sorted by latency.

    Point ``j`` dominates ``i`` when it is at least as fast and at least as accurate and strictly better in one
    of the two. Duplicates of a front point are all on the front.
    """
    front = []
    for i, (lat_i, acc_i) in enumerate(points):
        dominated = any(
            lat_j <= lat_i and acc_j >= acc_i and (lat_j < lat_i or acc_j > acc_i)
            for j, (lat_j, acc_j) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def int8_notes(report: Report) -> list[dict[str, Any]]:
    """The validate stages' notes on INT8 artifacts not faster than their FP32 reference (``int8_not_faster``)."""
    return [n for s in report.stages if s.kind == "validate" for n in s.metrics.get("int8_not_faster") or []]


def recommended(report: Report) -> dict[str, dict[int, str | None]]:
    """Per device and batch size: the fastest artifact that fails no budget (None when every artifact fails one).

    An INT8 artifact that a validate note found not faster than its FP32 reference at that batch size on that
    device is never recommended while the reference fails no budget: the faster artifact is kept.
    """
    slow = {(n["artifact"], n["device"], b): n["reference"] for n in int8_notes(report) for b in n["not_faster"]}
    chosen: dict[str, dict[int, str | None]] = {}
    for device in dict.fromkeys(v.device for v in report.validations):
        rows = [v for v in report.validations if v.device == device]
        ok = {v.artifact for v in rows if all(x.passed is not False for x in v.verdicts)}
        chosen[device] = {}
        for batch in sorted({r.batch for v in rows for r in v.latency} or {LATENCY_BATCH}):
            timed = [(ms, v.artifact) for v in rows if v.artifact in ok and (ms := latency_at(v, batch))]
            timed = [(ms, name) for ms, name in timed if slow.get((name, device, batch)) not in ok]
            chosen[device][batch] = min(timed)[1] if timed else None
    return chosen


def recommendation_text(picks: dict[int, str | None]) -> str:
    """``int8-ort-cpu at batch 1, pruned-onnx at batch 32`` (one name when every batch size agrees)."""
    names = set(picks.values())
    if len(names) == 1:
        return next(iter(names)) or "none (every artifact misses a budget)"
    return ", ".join(f"{name or 'none'} at batch {batch}" for batch, name in picks.items())
