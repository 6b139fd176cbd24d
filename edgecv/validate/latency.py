"""Measured latency of a runner: warm-up, timed runs, percentiles and throughput per batch size.

Timing habits for noisy shared machines (DESIGN: measured facts): each batch size is timed as one block after
a warm-up, ONNX Runtime's spinning is off in OrtRunner, and the thread count is recorded with the numbers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

if TYPE_CHECKING:
    from edgecv.runtime.base import Runner


class LatencyResult(BaseModel):
    """Latency of one batch size, in milliseconds per batch; ``measured`` is False for estimates."""

    batch: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput: float
    runs: int
    threads: int | None = None
    measured: bool = True


def measure_latency(
    runner: Runner, input_shape: tuple[int, ...], batch: int, *, warmup: int = 10, runs: int = 50, seed: int = 0
) -> LatencyResult:
    """Time ``runs`` inferences of a random batch after ``warmup`` untimed ones."""
    data = np.random.default_rng(seed).standard_normal((batch, *input_shape)).astype(np.float32)
    for _ in range(warmup):
        runner.infer(data)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        runner.infer(data)
        times[i] = (time.perf_counter() - start) * 1000
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return LatencyResult(
        batch=batch,
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=float(times.mean()),
        throughput=float(batch * 1000 / p50),
        runs=runs,
        threads=runner.threads,
    )
