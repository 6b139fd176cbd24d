"""Quantize the conv outputs that ONNX Runtime's CPU kernels could not otherwise fuse (ONNX Runtime CPU scheme).

ONNX Runtime fuses ``DequantizeLinear -> Conv -> QuantizeLinear`` into QLinearConv only when the conv's output goes
straight to a QuantizeLinear (a Relu or Clip in between is folded away). NNCF (like OpenVINO) treats Conv followed
by hard-swish, hard-sigmoid or SiLU as one fused layer and quantizes only after the activation; ONNX Runtime has no
int8 kernel for those activations, so the conv runs in float: a depthwise conv then leaves MLAS's fast NCHWc path
too (its weight comes from a DequantizeLinear), which made MobileNetV3's INT8 3x slower than FP32.

``add_output_quantizers`` finds every weight-quantized conv of an NNCF-quantized model whose output reaches no
quantizer (through at most a ReLU/ReLU6), and adds an activation quantizer on that output, in the scheme's
activation format, with its min/max range measured on the calibration batches (the quantized model runs them, so
each range sees the error of the layers before it). The torch fake-quantized model and its ONNX export then hold the
same extra Q/DQ, so parity is unchanged in meaning. Where every consumer is a hard-swish or hard-sigmoid, the range
starts at -3 (both are 0 below it) and, for hard-sigmoid only, ends at 3: finer steps, identical outputs.

Example::

    quantized = nncf.quantize(model, calibration.dataset, ...)
    added = add_output_quantizers(quantized, calibration)    # ["features/0/0/conv2d/0", ...]
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

FOLDED_BEFORE_Q = frozenset({"relu", "relu_", "relu6", "hardtanh", "hardtanh_"})
"""Activations ONNX Runtime removes between a conv and its QuantizeLinear (ReluQuantFusion, ClipQuantFusion)."""
FLOOR_MINUS_3 = frozenset({"hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_"})
"""Activations that give the same output for every input <= -3."""


def _op(node: Any) -> str:
    """``features/0/2/hardswish/0`` -> ``hardswish``."""
    parts = node.node_name.split("/")
    return parts[-2] if len(parts) > 1 else node.node_name


def _is_quantizer(node: Any) -> bool:
    return "hook__" in node.node_name and node.node_name.rsplit("/", 2)[-2].endswith("quantize")


def unfused_convs(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[float, float]]:
    """Conv op name -> (lowest, highest) range clamp, per weight-quantized conv whose output reaches no quantizer."""
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph
    from nncf.torch.graph import operator_metatypes as om

    from edgecv.quantize.nncf_ptq import quantizers

    convs = (om.PTConv1dMetatype, om.PTConv2dMetatype, om.PTConv3dMetatype, om.PTDepthwiseConv1dSubtype,
             om.PTDepthwiseConv2dSubtype, om.PTDepthwiseConv3dSubtype)
    hooked = set(quantizers(model))
    graph = build_nncf_graph(model, example)
    found: dict[str, tuple[float, float]] = {}
    for node in graph.get_all_nodes():
        if node.metatype not in convs or not any(h.startswith(f"pre_hooks.{node.node_name}__1.") for h in hooked):
            continue
        nexts = graph.get_next_nodes(node)
        if len(nexts) == 1 and _op(nexts[0]) in FOLDED_BEFORE_Q:
            nexts = graph.get_next_nodes(nexts[0])
        if nexts and all(_is_quantizer(n) for n in nexts):
            continue
        ops = {_op(n) for n in graph.get_next_nodes(node)}
        low = -3.0 if ops and ops <= FLOOR_MINUS_3 else -math.inf
        high = 3.0 if ops and ops <= {"hardsigmoid", "hardsigmoid_"} else math.inf
        found[node.node_name] = (low, high)
    return found


class _MinMax(nn.Module):
    """A pass-through hook that records the smallest and largest value it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.low, self.high = math.inf, -math.inf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.low, self.high = min(self.low, float(x.min())), max(self.high, float(x.max()))
        return x


def _ranges(model: nn.Module, names: list[str], calibration: Any) -> dict[str, tuple[float, float]]:
    from nncf.torch.function_hook.wrapper import register_post_function_hook

    collectors = {name: _MinMax() for name in names}
    handles = [register_post_function_hook(model, name, 0, c) for name, c in collectors.items()]
    try:
        with torch.no_grad():
            for i, batch in enumerate(calibration.dataset.get_inference_data()):
                if i >= calibration.batches:
                    break
                model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return {name: (c.low, c.high) for name, c in collectors.items()}


def add_output_quantizers(model: nn.Module, calibration: Any) -> list[str]:
    """Add an activation quantizer on each unfused conv output of ``model`` (in place); return the conv op names."""
    from nncf.torch.function_hook.wrapper import register_post_function_hook
    from nncf.torch.quantization.layers import AsymmetricQuantizer

    from edgecv.quantize.nncf_ptq import quantizers

    template = next((q for name, q in quantizers(model).items() if isinstance(q, AsymmetricQuantizer)
                     and "post_hooks." in name and tuple(q.scale_shape) == (1,)), None)
    example = next(iter(calibration.dataset.get_inference_data()))
    targets = unfused_convs(model, example) if template is not None else {}
    if not targets:
        return []
    measured = _ranges(model, list(targets), calibration)
    for name, (floor, ceiling) in targets.items():
        low, high = measured[name]
        low, high = min(max(low, floor), 0.0), max(min(high, ceiling), 0.0)
        high = max(high, low + 1e-6)
        quantizer = copy.deepcopy(template)
        quantizer.input_low = nn.Parameter(torch.tensor([low], dtype=torch.float32))
        quantizer.input_range = nn.Parameter(torch.tensor([high - low - quantizer.eps], dtype=torch.float32))
        register_post_function_hook(model, name, 0, quantizer)
    return list(targets)
