"""Move a ReLU that follows a quantizer above it, so ONNX Runtime fuses it into the conv (CPU scheme only).

edgecv quantizes every conv's output (see ``output_quantizers``), also when a ReLU comes after the conv: the graph
then reads ``Conv -> Q -> DQ -> Relu``, ONNX Runtime turns ``DQ -> Conv -> Q`` into a QLinearConv and runs the ReLU
in float on the dequantized tensor, so whatever follows (a Concat, a channel shuffle) sees float and the next conv
may stay float too. ``Q(relu(x)) = max(Q(x), zero_point)``, so ``relu(DQ(Q(x))) = DQ(Q(relu(x)))``, and
``Conv -> Relu -> Q -> DQ`` gives the same values. ONNX Runtime folds a ReLU into the QLinearConv only when the
quantizer after it starts at zero (zero point at the type's minimum), so the moved quantizer keeps the range the
ReLU leaves, ``[0, (qmax - zero_point) * scale]``, over all levels: zero point ``qmin`` and scale
``(qmax - zero_point) * scale / (qmax - qmin)``. That is a finer grid than before (up to 2x for a quantizer whose
zero point sat mid-range), so values move by less than one old step: closer to float, not bit-identical to the
fake-quantized model.

Worked example (FastestDet's ShuffleNetV2 block tail)::

    before:  Conv -> QuantizeLinear(s, zp=128) -> DequantizeLinear(s, 128) -> Relu -> Concat
    after:   Conv -> Relu -> QuantizeLinear(s * 127 / 255, 0) -> DequantizeLinear(s * 127 / 255, 0) -> Concat

    hoist_relu_above_quantizer(model)   # returns how many ReLUs moved
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _only_user(users: dict[str, list[onnx.NodeProto]], name: str, op_type: str) -> onnx.NodeProto | None:
    found = users.get(name, [])
    return found[0] if len(found) == 1 and found[0].op_type == op_type else None


def _post_relu_parameters(quantize: onnx.NodeProto,
                          inits: dict[str, onnx.TensorProto]) -> tuple[float, np.ndarray] | None:
    """The scale and zero point covering ``[0, old max]`` with every level, or None if not per-tensor 8-bit."""
    if len(quantize.input) != 3 or quantize.input[1] not in inits or quantize.input[2] not in inits:
        return None
    scale = numpy_helper.to_array(inits[quantize.input[1]])
    zero_point = numpy_helper.to_array(inits[quantize.input[2]])
    if scale.size != 1 or zero_point.dtype not in (np.uint8, np.int8):
        return None
    info = np.iinfo(zero_point.dtype)
    top = (info.max - int(zero_point)) * float(scale)
    if top <= 0:
        return None
    return top / (info.max - info.min), np.array(info.min, zero_point.dtype)


def hoist_relu_above_quantizer(model: onnx.ModelProto) -> int:
    """``x -> Q -> DQ -> Relu`` becomes ``x -> Relu -> Q' -> DQ'`` where the Q and DQ have no other user, Q' and
    DQ' spanning the ReLU's output range from zero."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}
    moved = 0
    for quantize in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        dequantize = _only_user(users, quantize.output[0], "DequantizeLinear")
        relu = _only_user(users, dequantize.output[0], "Relu") if dequantize is not None else None
        if relu is None or quantize.output[0] in graph_outputs or dequantize.output[0] in graph_outputs:
            continue
        parameters = _post_relu_parameters(quantize, inits)
        if parameters is None or dequantize.input[1:] != quantize.input[1:]:
            continue
        base = quantize.name or quantize.output[0]
        graph.initializer.extend([numpy_helper.from_array(np.array(parameters[0], np.float32), f"{base}_relu_scale"),
                                  numpy_helper.from_array(parameters[1], f"{base}_relu_zero_point")])
        for node in (quantize, dequantize):
            node.input[1:] = [f"{base}_relu_scale", f"{base}_relu_zero_point"]
        relu_input, relu_output = quantize.input[0], relu.output[0]
        relu.input[0] = relu_input
        relu.output[0] = f"{relu_output}_before_quantizer"
        quantize.input[0] = relu.output[0]
        dequantize.output[0] = relu_output
        graph.node.remove(relu)
        graph.node.insert(list(graph.node).index(quantize), relu)
        moved += 1
    if moved:
        used = {name for node in graph.node for name in node.input}
        keep = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        del graph.value_info[:]  # shapes are unchanged, but stale entries name moved tensors
    return moved
