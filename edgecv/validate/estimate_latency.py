"""Latency estimates for devices that cannot be measured here, as LatencyResults labelled 'estimated'."""

from __future__ import annotations

from typing import Any

from edgecv.artifacts import ModelArtifact
from edgecv.devices import DeviceProfile
from edgecv.validate.latency import LatencyResult


def estimated_latencies(
    artifact: ModelArtifact, device: DeviceProfile, batch_sizes: list[int]
) -> tuple[list[LatencyResult], str, dict[str, Any]]:
    """Roofline estimates per batch size, or nothing (``"none"``) when the device has no peak figures.

    Each batch's detail carries ``error_band``: the estimator's measured out-of-sample error, which reports print
    next to estimated latencies.
    """
    try:
        from edgecv.validate.estimate import estimate_latency
    except ImportError:
        return [], "none", {"reason": "estimator not available"}
    from edgecv.errors import UnsupportedError

    precision = artifact.precision if artifact.precision in device.precisions else "fp32"
    results: list[LatencyResult] = []
    detail: dict[str, Any] = {}
    for batch in batch_sizes:
        try:
            est = estimate_latency(artifact.path, device, precision=precision, batch=batch)
        except UnsupportedError as exc:
            return [], "none", {"reason": str(exc)}
        results.append(
            LatencyResult(
                batch=batch,
                p50_ms=est.ms,
                p90_ms=est.ms,
                p99_ms=est.ms,
                mean_ms=est.ms,
                throughput=est.throughput,
                runs=0,
                measured=False,
            )
        )
        detail[str(batch)] = {
            "compute_bound_ms": est.compute_bound_ms,
            "memory_bound_ms": est.memory_bound_ms,
            "overhead_ms": est.overhead_ms,
            "precision": precision,
            "method": est.method,
            "error_band": est.error_band.label,
        }
    return results, "estimated", detail
