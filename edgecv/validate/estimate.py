"""Latency of an ONNX model on a device profile, estimated with a calibrated roofline (no device needed).

Each layer TensorRT would run takes ``max(flops / (peak * compute_eff), bytes / (bandwidth * memory_eff))``
plus a fixed per-layer cost (launch, ramp-up and tail of a kernel); pointwise ops fused into a convolution
add only their extra traffic (the fusion rule is in :mod:`edgecv.validate.onnx_cost`). ``peak`` is the GPU's
dense figure for the precision: ``int8_tops``, ``fp16_tflops``, or ``fp32_tflops`` (``fp16_tflops / 2`` when
absent). The per-layer cost is ``layer_overhead_us`` at ``OVERHEAD_REFERENCE_MHZ``, scaled by the inverse of
the device's highest GPU clock (a slower clock takes longer to launch and drain a kernel).

The three factors are fitted by :func:`calibrate` on MLPerf Inference ResNet-50 v1.5 INT8 SingleStream
latencies (``MLPERF_RESNET50_INT8``). NVIDIA's SingleStream harness runs on the GPU alone (its SingleStream
configs set a GPU batch size and no DLA; the v2.1 Orin MaxQ config even clocks the DLA to 0), so the GPU
peaks are the right ones. MLPerf engines are hand-tuned, so an ordinary TensorRT build may be slower. The same
factors serve fp16 and fp32, which the calibration does not cover. Out of sample (``OUT_OF_SAMPLE_ERROR``,
``bench/estimate_out_of_sample.py``) estimates ran 0.54x to 2.78x of 14 published latencies: treat one as good
to a factor of about 3 and measure on the device before relying on it.

Example::

    from edgecv.devices import load_device
    est = estimate_latency("model.onnx", load_device("jetson-orin-nano-8gb"), precision="int8")
    est.ms, est.throughput, est.memory_bound_ms
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnx

from edgecv.devices import DeviceProfile
from edgecv.errors import UnsupportedError
from edgecv.onnx_io import load_onnx
from edgecv.validate.onnx_cost import NodeCost, graph_cost

__all__ = [
    "CALIBRATION", "MLPERF_RESNET50_INT8", "OUT_OF_SAMPLE_ERROR", "Calibration", "CalibrationResult", "ErrorBand",
    "LatencyEstimate", "LeaveOneOutFold", "NodeEstimate", "PublishedLatency", "calibrate", "estimate_latency",
    "graph_cost", "leave_one_out", "peak_ops",
]


@dataclass(frozen=True)
class PublishedLatency:
    """A published latency: device profile name, milliseconds, and where the number comes from."""

    device: str
    ms: float
    source: str


_ML = "MLPerf Inference {v} closed edge, NVIDIA {sys}, resnet50 SingleStream, 90th percentile latency {ns} ns"
_REPO = (
    " (github.com/mlcommons/inference_results_{v}, "
    "closed/NVIDIA/results/{sys}/resnet50/SingleStream/performance/run_1/mlperf_log_summary.txt)"
)
MLPERF_RESNET50_INT8: tuple[PublishedLatency, ...] = tuple(
    PublishedLatency(dev, ns / 1e6, _ML.format(v=v, sys=sys, ns=ns) + _REPO.format(v=v, sys=sys))
    for dev, v, sys, ns in [
        ("jetson-agx-orin-64gb", "v3.1", "Orin_TRT", 640258),
        ("jetson-orin-nx-16gb", "v3.1", "Orin_NX_TRT", 1082300),
        ("jetson-agx-xavier", "v1.1", "AGX_Xavier_TRT", 1834100),
        ("jetson-xavier-nx", "v1.1", "Xavier_NX_TRT", 2437492),
    ]
)
"""ResNet-50 v1.5, INT8, batch 1, TensorRT on the GPU: the points :func:`calibrate` fits."""


@dataclass(frozen=True)
class Calibration:
    """Fraction of peak compute and bandwidth a layer reaches, and a layer's fixed cost in microseconds."""

    compute_eff: float
    memory_eff: float
    layer_overhead_us: float


OVERHEAD_REFERENCE_MHZ = 1000.0
CALIBRATION = Calibration(compute_eff=0.2785, memory_eff=0.9327, layer_overhead_us=3.981)
"""Fitted by ``calibrate()`` on ``MLPERF_RESNET50_INT8`` (torchvision ResNet-50, opset 17, 56 layers).

Estimate / published: AGX Orin 64GB 0.592 / 0.640 ms (0.92), Orin NX 16GB 1.315 / 1.082 (1.22), AGX Xavier
1.566 / 1.834 (0.85), Xavier NX 2.545 / 2.437 (1.04); RMS of ln(ratio) 0.133. compute_eff is low because
batch-1 layers cannot fill the tensor cores; memory_eff is high because the byte count is an upper bound
(no L2 reuse is modelled), so it is an effective figure, not a measured DRAM efficiency. An overhead not
scaled by clock fits slightly better (RMS 0.107, memory_eff 1.0); the clock scaling is kept as the more
physical choice for devices outside the fit.
"""


@dataclass(frozen=True)
class ErrorBand:
    """How far estimates fall from published latencies the fit never saw, as estimate / published ratios."""

    points: int
    min_ratio: float
    max_ratio: float
    mean_abs_rel_error: float
    """Mean of ``|estimate / published - 1|``."""
    rms_log_ratio: float
    leave_one_out_max_abs_rel_error: float
    """The worst held-out point when the fit is repeated on three of its four points."""
    source: str

    @property
    def label(self) -> str:
        """What a report prints next to an estimate."""
        return (f"out-of-sample error ±{self.mean_abs_rel_error:.0%} on average (estimate {self.min_ratio:.2f}-"
                f"{self.max_ratio:.2f}x the published latency over {self.points} points outside the fit), "
                f"see {self.source}")


OUT_OF_SAMPLE_ERROR = ErrorBand(
    points=14, min_ratio=0.54, max_ratio=2.78, mean_abs_rel_error=0.75, rms_log_ratio=0.62,
    leave_one_out_max_abs_rel_error=0.50, source="bench/results/estimate_out_of_sample.md",
)
"""Measured by ``bench/estimate_out_of_sample.py`` against 14 published Jetson latencies outside the fit (MLPerf
SSD-MobileNet, SSD-ResNet34, RetinaNet SingleStream and ResNet-50 MultiStream at batch 8; trtexec YOLOv8n at
fp32/fp16/int8 on Orin Nano 8GB). Estimates ran 0.54x to 2.78x of the published figure (mean |error| 75%, RMS
ln(ratio) 0.62): large compute-bound graphs (SSD-ResNet34 at 433 GFLOPs, RetinaNet) read 1.6-2.8x slow because
the batch-1 ResNet-50 fit's compute_eff (0.28) undershoots big layers; TensorRT fp32 on Ampere uses TF32 Tensor
Cores, which the fp32 peak ignores (YOLOv8n fp32 reads 2.1-2.5x slow); small INT8 graphs read fast (0.54-0.84x).
Leave-one-out on the four calibration points: worst 0.50x (AGX Xavier), mean |error| 31%. Rerun the bench and
update these figures by hand when the estimator or its calibration changes (the bench flags a mismatch).
"""


@dataclass(frozen=True)
class NodeEstimate:
    """One node's share: ``bound`` names the largest of its compute time, memory time and fixed overhead."""

    name: str
    op_type: str
    flops: float
    bytes: float
    ms: float
    bound: Literal["compute", "memory", "overhead"]


@dataclass(frozen=True)
class LatencyEstimate:
    """An estimate; ``ms`` is ``compute_bound_ms + memory_bound_ms + overhead_ms``.

    ``compute_bound_ms`` sums the roofline time of nodes limited by compute, ``memory_bound_ms`` that of nodes
    limited by memory traffic, and ``overhead_ms`` the fixed per-layer costs.
    """

    device: str
    precision: str
    batch: int
    ms: float
    throughput: float
    """Images per second: ``batch / ms * 1000``."""
    compute_bound_ms: float
    memory_bound_ms: float
    overhead_ms: float
    flops: float
    bytes: float
    nodes: list[NodeEstimate]
    """Every node that runs (free nodes such as Reshape and Q/DQ are left out)."""
    method: str
    error_band: ErrorBand = OUT_OF_SAMPLE_ERROR
    """How far such estimates were from published latencies outside the fit (``OUT_OF_SAMPLE_ERROR``)."""


@dataclass(frozen=True)
class CalibrationPoint:
    """A published latency next to the estimate the fitted factors give."""

    device: str
    published_ms: float
    estimated_ms: float

    @property
    def ratio(self) -> float:
        """Estimate over published: 1.0 is exact, 2.0 twice too slow."""
        return self.estimated_ms / self.published_ms


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` returns: the factors and how well they fit each point."""

    factors: Calibration
    points: list[CalibrationPoint]
    rms_log_error: float
    """Root mean square of ``ln(estimate / published)`` over the points."""


def peak_ops(device: DeviceProfile, precision: str) -> float:
    """The GPU's dense peak for ``precision`` in operations per second; UnsupportedError if it has none."""
    if precision not in device.precisions:
        raise UnsupportedError(
            f"device '{device.name}' does not run {precision} (it runs {', '.join(device.precisions)}); "
            "pick one of those precisions"
        )
    peak = device.peak
    value = {"int8": peak.int8_tops, "fp16": peak.fp16_tflops, "fp32": peak.fp32_tflops}.get(precision)
    if precision == "fp32" and value is None and peak.fp16_tflops is not None:
        value = peak.fp16_tflops / 2
    if value is None or device.memory_bandwidth_gbs is None:
        what = "memory_bandwidth_gbs" if value is not None else f"peak {precision} throughput"
        fix = "add the figure to the profile YAML"
        if device.kind == "host-cpu":
            fix = "the host is measured, not estimated: benchmark it instead"
        raise UnsupportedError(
            f"device '{device.name}' has no {what} in its profile, so its latency cannot be estimated; {fix}"
        )
    return value * 1e12


def _overhead_s(device: DeviceProfile, factors: Calibration) -> float:
    clocks = [m.gpu_max_mhz for m in device.power_modes if m.gpu_max_mhz]
    scale = OVERHEAD_REFERENCE_MHZ / max(clocks) if clocks else 1.0
    return factors.layer_overhead_us * 1e-6 * scale


def _roofline(costs: list[NodeCost], device: DeviceProfile, factors: Calibration) -> list[tuple]:
    """(cost, compute s, memory s, overhead s) for every node that runs."""
    bandwidth = device.memory_bandwidth_gbs * 1e9 if device.memory_bandwidth_gbs else 0.0
    overhead = _overhead_s(device, factors)
    peaks: dict[str, float] = {}
    rows = []
    for c in costs:
        if c.role == "free":
            continue
        if c.precision not in peaks:
            peaks[c.precision] = peak_ops(device, c.precision)
        compute = c.flops / (peaks[c.precision] * factors.compute_eff)
        memory = c.bytes / (bandwidth * factors.memory_eff)
        rows.append((c, compute, memory, overhead if c.role in ("compute", "layer") else 0.0))
    return rows


def _method(factors: Calibration) -> str:
    return (
        f"roofline (compute_eff={factors.compute_eff:.3g}, memory_eff={factors.memory_eff:.3g}, "
        f"{factors.layer_overhead_us:.3g} us/layer at {OVERHEAD_REFERENCE_MHZ:.0f} MHz), calibrated on "
        "MLPerf Inference ResNet-50 INT8 SingleStream (v1.1 Xavier, v3.1 Orin)"
    )


def estimate_latency(
    model: onnx.ModelProto | str | Path,
    device: DeviceProfile,
    precision: str = "fp32",
    batch: int = 1,
    *,
    factors: Calibration | None = None,
) -> LatencyEstimate:
    """Estimated TensorRT latency of ``model`` on ``device`` at ``precision`` and ``batch``.

    ``factors`` defaults to ``CALIBRATION``. Raises UnsupportedError when the device cannot run ``precision``
    or its profile lacks the peak or bandwidth figures.
    """
    factors = factors or CALIBRATION
    peak_ops(device, precision)  # fail early and clearly on an unsupported precision or missing figures
    rows = _roofline(graph_cost(model, batch=batch, precision=precision), device, factors)
    nodes, compute, memory, overhead = [], 0.0, 0.0, 0.0
    for c, ct, mt, ot in rows:
        roof = max(ct, mt)
        compute += roof if ct >= mt else 0.0
        memory += roof if mt > ct else 0.0
        overhead += ot
        bound = "overhead" if ot > roof else ("compute" if ct >= mt else "memory")
        nodes.append(NodeEstimate(c.name, c.op_type, c.flops, c.bytes, (roof + ot) * 1e3, bound))
    ms = (compute + memory + overhead) * 1e3
    return LatencyEstimate(
        device=device.name, precision=precision, batch=batch, ms=ms,
        throughput=batch / ms * 1e3 if ms else math.inf,
        compute_bound_ms=compute * 1e3, memory_bound_ms=memory * 1e3, overhead_ms=overhead * 1e3,
        flops=sum(r[0].flops for r in rows), bytes=sum(r[0].bytes for r in rows), nodes=nodes,
        method=_method(factors),
    )


def _resnet50_onnx(folder: Path) -> Path:
    """torchvision ResNet-50 (v1.5, random weights) exported at batch 1, 224x224, opset 17."""
    import torch
    import torchvision

    path = folder / "resnet50.onnx"
    net = torchvision.models.resnet50(weights=None).eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"])
    return path


def _calibration_costs(model: onnx.ModelProto | str | Path | None) -> list[NodeCost]:
    """INT8 batch-1 costs of ``model``, or of a fresh torchvision ResNet-50 export when it is None."""
    if model is None:
        with tempfile.TemporaryDirectory() as tmp:
            return graph_cost(_resnet50_onnx(Path(tmp)), batch=1, precision="int8")
    return graph_cost(load_onnx(model), batch=1, precision="int8")


def _predict_ms(costs: list[NodeCost], device: DeviceProfile, factors: Calibration) -> float:
    return sum(max(r[1], r[2]) + r[3] for r in _roofline(costs, device, factors)) * 1e3


def _fit(costs: list[NodeCost], points: tuple[PublishedLatency, ...]) -> Calibration:
    import numpy as np

    from edgecv.devices import load_device

    unit = Calibration(1.0, 1.0, 1.0)
    per_device = []  # (F/peak s, B/bw s, overhead s per us, published s)
    for p in points:
        rows = _roofline(costs, load_device(p.device), unit)
        per_device.append((np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                           sum(r[3] for r in rows), p.ms * 1e-3))

    def search(ce, me, ov):
        err = np.zeros((len(ce), len(me), len(ov)))
        for ct, mt, ot, pub in per_device:
            roof = np.maximum(ct[None, None, :] / ce[:, None, None], mt[None, None, :] / me[None, :, None])
            roof = roof.sum(-1)
            err += np.log((roof[:, :, None] + ot * ov[None, None, :]) / pub) ** 2
        i, j, k = np.unravel_index(np.argmin(err), err.shape)
        return ce[i], me[j], ov[k]

    ce, me, ov = search(np.geomspace(0.05, 1, 61), np.geomspace(0.05, 1, 61), np.linspace(0, 40, 161))
    for ratio, step in ((1.06, 0.25), (1.003, 0.0125)):  # one coarse grid step either side, finer each time
        ce, me, ov = search(np.geomspace(max(0.05, ce / ratio), min(1, ce * ratio), 41),
                            np.geomspace(max(0.05, me / ratio), min(1, me * ratio), 41),
                            np.linspace(max(0, ov - step), ov + step, 41))
    return Calibration(round(float(ce), 4), round(float(me), 4), round(float(ov), 3))


def calibrate(model: onnx.ModelProto | str | Path | None = None,
              points: tuple[PublishedLatency, ...] = MLPERF_RESNET50_INT8) -> CalibrationResult:
    """Fit ``Calibration`` to ``points`` (ResNet-50 INT8 batch 1) by least squares on log latency.

    A grid search over compute_eff and memory_eff in [0.05, 1] (log-spaced) and the per-layer overhead in
    [0, 40] us, refined twice around the best point. ``model`` defaults to a fresh torchvision ResNet-50
    export.
    Store the result in ``CALIBRATION`` by hand (the module does not rewrite itself).
    """
    from edgecv.devices import load_device

    costs = _calibration_costs(model)
    factors = _fit(costs, points)
    result_points = [CalibrationPoint(p.device, p.ms, _predict_ms(costs, load_device(p.device), factors))
                     for p in points]
    rms = math.sqrt(sum(math.log(q.ratio) ** 2 for q in result_points) / len(result_points))
    return CalibrationResult(factors, result_points, rms)


@dataclass(frozen=True)
class LeaveOneOutFold:
    """One fold: the factors fitted without ``held_out``, and what they predict for it."""

    held_out: PublishedLatency
    fitted_on: tuple[str, ...]
    factors: Calibration
    estimated_ms: float

    @property
    def ratio(self) -> float:
        """Estimate over published for the held-out point."""
        return self.estimated_ms / self.held_out.ms


def leave_one_out(model: onnx.ModelProto | str | Path | None = None,
                  points: tuple[PublishedLatency, ...] = MLPERF_RESNET50_INT8) -> list[LeaveOneOutFold]:
    """Out-of-sample error of :func:`calibrate`: for each point, fit on the others and predict it.

    ``model`` is the calibration graph (a fresh torchvision ResNet-50 export by default); needs two points or more.
    """
    from edgecv.devices import load_device

    if len(points) < 2:
        raise ValueError(f"leave-one-out needs at least two points, got {len(points)}")
    costs = _calibration_costs(model)
    folds = []
    for i, held in enumerate(points):
        rest = points[:i] + points[i + 1:]
        factors = _fit(costs, rest)
        folds.append(LeaveOneOutFold(held, tuple(p.device for p in rest), factors,
                                     _predict_ms(costs, load_device(held.device), factors)))
    return folds
