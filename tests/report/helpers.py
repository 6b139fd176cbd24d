"""Reports for the report tests: a real tiny run's report, enriched with more artifacts and an imported device."""

from __future__ import annotations

from edgecv.report.schema import Report, Validation
from edgecv.validate.budgets import apply_budgets
from edgecv.validate.latency import LatencyResult


def latency(batch: int, ms: float, measured: bool) -> LatencyResult:
    return LatencyResult(
        batch=batch, p50_ms=ms, p90_ms=ms, p99_ms=ms, mean_ms=ms, throughput=batch * 1000 / ms, runs=5 if measured
        else 0, measured=measured
    )


def validation(artifact: str, device: str, top1: float, baseline: float, ms: float, source: str, **extra) -> Validation:
    """A validation with a batch-1 and batch-4 latency, measured or estimated according to ``source``."""
    measured = source in ("measured", "imported")
    return Validation(
        artifact=artifact,
        device=device,
        backend="tensorrt",
        precision=extra.pop("precision", "fp32"),
        metrics={"top1": top1, "top5": 100.0, "top1_delta": round(top1 - baseline, 3), **extra.pop("metrics", {})},
        latency=[latency(1, ms, measured), latency(4, ms * 3, measured)],
        latency_source=source,  # type: ignore[arg-type]
        **extra,
    )


def enrich(report: Report) -> Report:
    """Add pruned and int8 artifacts on two devices (one imported from the device) and budgets to a run's report."""
    rich = report.model_copy(deep=True)
    base = rich.validations[0]
    top1 = base.metrics["top1"] or 0.0
    confusion = [row[:] for row in base.confusion]
    if len(confusion) > 3:
        confusion[3][3] -= 2
        confusion[3][8] += 2
    common = {"per_class": base.per_class, "confusion": confusion, "model_size_mb": 0.1, "memory_mb": 0.2}
    rich.validations += [
        validation("pruned-onnx", "host-cpu", top1 - 0.6, top1, 0.08, "measured", **common),
        validation("int8-onnx", "host-cpu", top1 - 1.8, top1, 0.12, "measured", precision="int8", **common),
        validation("pruned-onnx", "jetson-orin-nano-8gb", top1 - 0.6, top1, 0.05, "estimated", **common),
        validation(
            "int8-onnx", "jetson-orin-nano-8gb", top1 - 1.8, top1, 0.09, "imported", precision="int8",
            estimated=[latency(1, 0.03, False), latency(4, 0.07, False)], metrics={"device_top1": top1 - 2.2},
            device_budgets={"memory_mb": 0.15}, **common,
        ),
    ]
    apply_budgets(rich.validations, {"latency_ms": 0.1, "max_accuracy_drop": 2.0})
    return rich
