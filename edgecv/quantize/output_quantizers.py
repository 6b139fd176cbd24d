"""Quantize the tensors ONNX Runtime's CPU kernels need quantized to run a layer in INT8 (ONNX Runtime CPU scheme).

ONNX Runtime fuses ``DequantizeLinear -> Conv -> QuantizeLinear`` into QLinearConv only when the conv's output goes
straight to a QuantizeLinear (a Relu or Clip in between is folded away). NNCF (like OpenVINO) treats Conv followed
by hard-swish, hard-sigmoid or SiLU as one fused layer and quantizes only after the activation; ONNX Runtime has no
int8 kernel for those activations, so the conv runs in float: a depthwise conv then also leaves MLAS's fast NCHWc
path (its weight comes from a DequantizeLinear), which made MobileNetV3's INT8 3x slower than FP32.

Two steps around ``nncf.quantize``:

1. ``int8_activations(model)``: a copy where each ``nn.SiLU`` is ``x * sigmoid(x)``, each ``nn.Hardswish``
   ``x * relu6(x + 3) / 6`` and each ``nn.Hardsigmoid`` ``relu6(x + 3) / 6``: the same functions, written with ops
   ONNX Runtime has int8 kernels for (QLinearSigmoid, QLinearAdd, QLinearMul; the ReLU6 becomes the saturation of a
   [0, 6] quantizer).
2. ``add_output_quantizers(quantized, calibration)``: an activation quantizer on every weight-quantized conv output
   that reaches no quantizer (through at most a ReLU/ReLU6) and feeds no layer kept float, its min/max range
   measured on the calibration batches (the quantized model runs them, so each range sees the error of the layers
   before it; where every consumer is a hard-swish or hard-sigmoid, whose output is the same for all inputs <= -3,
   the range starts at -3: finer steps, identical outputs; before a hard-swish it is also aligned so that 3 is a
   level, ``aligned_hard_sigmoid_range``, and the gate ``relu6(x + 3)`` then needs no quantizer: ONNX Runtime
   computes it as a uint8 Clip), and a fixed-range quantizer on each sigmoid ([0, 1]) and other ReLU6 ([0, 6])
   output left float.

The torch fake-quantized model and its ONNX export hold the same Q/DQ, so parity keeps its meaning.

Example::

    prepared = int8_activations(folded)
    quantized = nncf.quantize(prepared, calibration.dataset, ...)
    add_output_quantizers(quantized, calibration)    # ["features/0/0/conv2d/0", ...]
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

FOLDED_BEFORE_Q = frozenset({"relu", "relu_", "relu6", "hardtanh", "hardtanh_"})
"""Activations ONNX Runtime removes between a conv and its QuantizeLinear (ReluQuantFusion, ClipQuantFusion)."""
FIXED_RANGES = {"sigmoid": (0.0, 1.0), "hardsigmoid": (0.0, 1.0), "relu6": (0.0, 6.0), "hardtanh": (0.0, 6.0)}
"""Ops with a known output range, quantized over it when NNCF left their output float."""
HARD_SIGMOID_FLOOR = -3.0
"""Where a hard-swish/hard-sigmoid input's range starts: the output is the same for every input <= -3."""


class Int8SiLU(nn.Module):
    """SiLU written as ``x * sigmoid(x)``, so the sigmoid's output can be quantized (QLinearSigmoid + QLinearMul)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class Int8Hardswish(nn.Module):
    """Hard-swish written as ``x * relu6(x + 3) / 6`` (QLinearAdd, a [0, 6] quantizer, QLinearMul)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (F.relu6(x + 3.0) / 6.0)


class Int8Hardsigmoid(nn.Module):
    """Hard-sigmoid written as ``relu6(x + 3) / 6`` (QLinearAdd and a [0, 6] quantizer; the ``/ 6`` folds into the
    next DequantizeLinear). NNCF then also quantizes MobileNetV3's squeeze-excitation convs, which it keeps float
    behind a HardSigmoid (its SE-block ignored pattern), so the whole block stays int8 and NHWC."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


REWRITTEN: dict[type[nn.Module], type[nn.Module]] = {nn.SiLU: Int8SiLU, nn.Hardswish: Int8Hardswish,
                                                     nn.Hardsigmoid: Int8Hardsigmoid}


def int8_activations(model: nn.Module) -> nn.Module:
    """``model`` itself when it has no module in ``REWRITTEN``, else a copy with them written as ``Int8*`` modules."""
    names = [n for n, m in model.named_modules() if type(m) in REWRITTEN]
    if not names:
        return model
    prepared = copy.deepcopy(model)
    for name in names:
        prepared.set_submodule(name, REWRITTEN[type(prepared.get_submodule(name))]())
    return prepared


def _op(node: Any) -> str:
    """``features/0/2/hardswish/0`` -> ``hardswish``."""
    parts = node.node_name.split("/")
    return parts[-2] if len(parts) > 1 else node.node_name


def _is_quantizer(node: Any) -> bool:
    return "hook__" in node.node_name and node.node_name.rsplit("/", 2)[-2].endswith("quantize")


def _hard_swish_input(modules: dict[str, nn.Module], consumers: list[Any]) -> bool:
    """Whether every node is a hard-swish/hard-sigmoid or an op of an ``Int8Hardswish``/``Int8Hardsigmoid``
    (``modules``: the module that ran each op, :func:`edgecv.quantize.op_modules.traced_graph`)."""
    for node in consumers:
        if _op(node).rstrip("_") in ("hardswish", "hardsigmoid"):
            continue
        if not isinstance(modules.get(node.node_name), Int8Hardswish | Int8Hardsigmoid):
            return False
    return bool(consumers)


def _weight_quantized(node: Any, hooked: set[str]) -> bool:
    return any(h.startswith(f"pre_hooks.{node.node_name}__1.") for h in hooked)


def unquantized_outputs(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[float, float, bool, str | None]]:
    """Op name -> (lowest, highest, fixed, source) for each output to quantize (see the module docstring).

    ``fixed`` ranges are used as they are; the others clamp the measured min/max. ``source``: for the ReLU6 of an
    ``Int8Hardswish``/``Int8Hardsigmoid`` whose input is a conv output quantized here, that conv's op name (the
    gate needs no quantizer of its own when that conv's range is aligned: ``aligned_hard_sigmoid_range``), None
    for the others.
    """
    from nncf.torch.graph import operator_metatypes as om

    from edgecv.quantize.nncf_ptq import quantizers
    from edgecv.quantize.op_modules import traced_graph

    convs = (om.PTConv1dMetatype, om.PTConv2dMetatype, om.PTConv3dMetatype, om.PTDepthwiseConv1dSubtype,
             om.PTDepthwiseConv2dSubtype, om.PTDepthwiseConv3dSubtype)
    weighted = (*convs, om.PTLinearMetatype, om.PTMatMulMetatype)
    hooked = set(quantizers(model))
    graph, modules = traced_graph(model, example)
    found: dict[str, tuple[float, float, bool, str | None]] = {}
    for node in graph.get_all_nodes():
        consumers = graph.get_next_nodes(node)
        if consumers and all(_is_quantizer(n) for n in consumers):
            continue
        op = _op(node).rstrip("_")
        if op in FIXED_RANGES:  # a gate or hard-swish's ReLU6 (x * gate, relu6(...) / 6), not a model output
            gate = consumers and all(_op(n).startswith(("mul", "div", "truediv")) for n in consumers)
            if gate and (op not in ("relu6", "hardtanh") or _hard_swish_input(modules, [node])):  # (0, 6): ours only
                found[node.node_name] = (*FIXED_RANGES[op], True, _gate_source(modules, graph, node))
            continue
        if node.metatype not in convs or not _weight_quantized(node, hooked):
            continue
        nexts = consumers
        if len(nexts) == 1 and _op(nexts[0]) in FOLDED_BEFORE_Q:
            nexts = graph.get_next_nodes(nexts[0])
        if nexts and all(_is_quantizer(n) for n in nexts):
            continue
        if any(n.metatype in weighted and not _weight_quantized(n, hooked) for n in nexts):
            continue  # it feeds a layer kept float (accuracy control, an ignored scope): its input stays float too
        found[node.node_name] = (HARD_SIGMOID_FLOOR if _hard_swish_input(modules, consumers) else -math.inf, math.inf,
                                 False, None)
    for name, (low, high, fixed, source) in found.items():  # a gate's source counts only if quantized here
        if source is not None and (source not in found or found[source][0] != HARD_SIGMOID_FLOOR):
            found[name] = (low, high, fixed, None)
    return found


def _gate_source(modules: dict[str, nn.Module], graph: Any, relu6: Any) -> str | None:
    """The op feeding ``x + 3`` in the ``relu6(x + 3)`` of an ``Int8Hardswish``, if there is one.

    Only hard-swish: a hard-sigmoid's gate (squeeze-excitation) gets NNCF's own [0, 1] quantizer, which the
    [0, 6] grid divided by 6 matches (ONNX Runtime drops that DQ -> Q pair), an aligned input's grid does not.
    """
    if not isinstance(modules.get(relu6.node_name), Int8Hardswish):
        return None
    adds = graph.get_previous_nodes(relu6)
    if len(adds) != 1 or not _op(adds[0]).startswith("add"):
        return None
    inputs = [n for n in graph.get_previous_nodes(adds[0]) if not _is_quantizer(n)]
    return inputs[0].node_name if len(inputs) == 1 else None


def aligned_hard_sigmoid_range(high: float) -> tuple[float, float] | None:
    """A range [-3, high'] (high' >= high) whose uint8 grid holds -3 at level 0 and 3 at a level z = 3 / scale.

    Then ``x + 3 = scale * x_q`` exactly and ``relu6(x + 3) = scale * min(x_q, 2z)``: ONNX Runtime computes a
    hard-sigmoid gate with an integer Clip on the uint8 tensor (:func:`edgecv.quantize.qdq_rewrites.
    integer_hard_sigmoid`) instead of a QLinearAdd into a [0, 6] quantizer, and the gate is exact on the input's
    grid (no second rounding). None when ``high`` is so large that no such grid covers it.
    """
    z = math.floor(255 * -HARD_SIGMOID_FLOOR / (max(high, 0.0) - HARD_SIGMOID_FLOOR))
    return (HARD_SIGMOID_FLOOR, 255 * -HARD_SIGMOID_FLOOR / z + HARD_SIGMOID_FLOOR) if z >= 1 else None


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
    """Add the activation quantizers of the module docstring to ``model`` (in place); return the op names."""
    from nncf.torch.function_hook.wrapper import register_post_function_hook
    from nncf.torch.quantization.layers import AsymmetricQuantizer

    from edgecv.quantize.nncf_ptq import quantizers

    template = next((q for name, q in quantizers(model).items() if isinstance(q, AsymmetricQuantizer)
                     and "post_hooks." in name and tuple(q.scale_shape) == (1,)), None)
    example = next(iter(calibration.dataset.get_inference_data()))
    targets = unquantized_outputs(model, example) if template is not None else {}
    to_measure = [name for name, (_, _, fixed, _) in targets.items() if not fixed]
    measured = _ranges(model, to_measure, calibration) if to_measure else {}
    aligned = {source: aligned_hard_sigmoid_range(measured[source][1]) for *_, source in targets.values() if source}
    added = []
    for name, (floor, ceiling, fixed, source) in targets.items():
        if source is not None and aligned.get(source):
            continue  # relu6(x + 3) is exact on x's aligned grid: ONNX Runtime clips the uint8 tensor
        low, high = (floor, ceiling) if fixed else measured[name]
        low, high = min(max(low, floor), 0.0), max(min(high, ceiling), 0.0)
        high = max(high, low + 1e-6)
        low, high = aligned.get(name) or (low, high)
        quantizer = copy.deepcopy(template)
        quantizer.input_low = nn.Parameter(torch.tensor([low], dtype=torch.float32))
        quantizer.input_range = nn.Parameter(torch.tensor([high - low - quantizer.eps], dtype=torch.float32))
        register_post_function_hook(model, name, 0, quantizer)
        added.append(name)
    return added
