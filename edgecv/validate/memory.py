"""Runtime memory of an ONNX model, estimated from its graph: weights plus the peak activation working set.

The approximation (what a ``memory_mb`` budget is checked against):

* **weights**: every constant input of every node (initializers, Constant nodes and what is computed from them
  only), at the precision the node runs at, as :func:`edgecv.validate.onnx_cost.graph_cost` counts them;
* **peak activations**: the largest working set of one layer: the activations a layer reads and writes, where a
  layer is a compute node together with the pointwise nodes fused into it (so a residual Add's second input
  counts with the convolution it is fused into). TensorRT and ONNX Runtime reuse activation memory between
  layers, so at any moment roughly one layer's inputs and outputs are live; tensors kept alive for later (a
  skip connection spanning several layers) are not counted, which makes this a lower bound for branchy graphs;
* not counted: the runtime's fixed cost (CUDA context, cuDNN/TensorRT libraries: typically several hundred MB
  on a Jetson), the builder's workspace, and the input/output host buffers. A memory budget therefore bounds
  the model's own share of device memory, not the process's resident size.

Example::

    est = estimate_memory("model.onnx", batch=1, precision="fp16")
    est.total_mb, est.weights_mb, est.activations_mb
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgecv.validate.onnx_cost import BYTES_PER_ELEMENT, NodeCost, graph_cost

MB = 1e6


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated runtime memory of a model at a batch size and precision, in MB (1e6 bytes)."""

    weights_mb: float
    activations_mb: float
    peak_layer: str
    batch: int
    precision: str

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.activations_mb

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the report, with the total and the method."""
        return {**asdict(self), "total_mb": self.total_mb, "method": "weights + peak layer activations (graph)"}


def peak_activation(costs: list[NodeCost]) -> tuple[float, str]:
    """(bytes, layer name) of the largest layer working set; fused nodes count with the layer they join."""
    per_layer: dict[str, float] = defaultdict(float)
    for c in costs:
        if c.role != "free":
            per_layer[c.fused_into or c.name] += c.activation_bytes
    if not per_layer:
        return 0.0, ""
    name = max(per_layer, key=per_layer.__getitem__)
    return per_layer[name], name


def estimate_memory(model: str | Path, batch: int = 1, precision: str = "fp32") -> MemoryEstimate:
    """Weights plus peak activation bytes of ``model``; see the module docstring for what is left out."""
    precision = precision if precision in BYTES_PER_ELEMENT else "fp32"
    costs = graph_cost(model, batch=batch, precision=precision)
    activations, layer = peak_activation(costs)
    weights = sum(c.weight_bytes for c in costs)
    return MemoryEstimate(round(weights / MB, 4), round(activations / MB, 4), layer, batch, precision)
