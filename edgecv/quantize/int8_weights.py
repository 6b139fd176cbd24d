"""Store quantized weights as int8 in a QDQ ONNX file, and drop what only makes the file bigger.

The legacy exporter writes a fake-quantized weight as ``float initializer -> QuantizeLinear -> DequantizeLinear``:
the file keeps 4 bytes per weight. Quantizing the initializer offline gives ``int8 initializer -> DequantizeLinear``
with identical numerics (QuantizeLinear of a constant is a constant), a quarter of the bytes, and the form ONNX
Runtime's quantize_static writes and fuses into QLinearConv.

Example: a conv weight ``w`` (float32, shape 16x3x3x3) behind ``QuantizeLinear(w, s, zp)``, ``s`` per output
channel, becomes ``w_quantized = clip(rint(w / s[:, None, None, None]) + zp, -128, 127).astype(int8)`` feeding
the DequantizeLinear directly; the QuantizeLinear and the float ``w`` are removed::

    model = onnx.load("int8.onnx")
    count = store_int8_weights(model)     # weights rewritten in place; returns how many
    compact(model)                        # drop value_info, shorten intermediate tensor names
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def quantize_array(weights: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    """ONNX QuantizeLinear of a constant: round half to even, add the zero point, saturate to its type."""
    shape = [1] * weights.ndim
    if scale.ndim and scale.size > 1:
        shape[axis % weights.ndim] = -1
    scaled = np.rint(weights.astype(np.float32) / scale.astype(np.float32).reshape(shape))
    zp = zero_point.astype(np.int32).reshape(shape if zero_point.size > 1 else ())
    info = np.iinfo(zero_point.dtype)
    return np.clip(scaled + zp, info.min, info.max).astype(zero_point.dtype)


def store_int8_weights(model: onnx.ModelProto) -> int:
    """Replace each QuantizeLinear on a float initializer by its quantized initializer; return how many."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.domain not in ("", "ai.onnx") or node.input[0] not in inits:
            continue
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            continue  # without a constant scale and zero point the stored type is unknown
        weights = numpy_helper.to_array(inits[node.input[0]])
        scale = numpy_helper.to_array(inits[node.input[1]])
        zero_point = numpy_helper.to_array(inits[node.input[2]])
        quantized = quantize_array(weights, scale, zero_point, _attr(node, "axis", 1))
        name = f"{node.input[0]}_quantized"
        graph.initializer.append(numpy_helper.from_array(quantized, name))
        for consumer in consumers.get(node.output[0], []):
            for index, value in enumerate(consumer.input):
                if value == node.output[0]:
                    consumer.input[index] = name
        replaced.append(node)
    for node in replaced:
        graph.node.remove(node)
    _drop_unused_initializers(graph)
    return len(replaced)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def compact(model: onnx.ModelProto) -> None:
    """Drop value_info (shape annotations ONNX Runtime re-infers) and give intermediate tensors short names.

    Node names are kept: they are what checks and profilers report. Models with subgraphs keep their tensor names.
    """
    graph = model.graph
    del graph.value_info[:]
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return  # subgraphs may refer to outer names: leave them alone
    keep = {o.name for o in graph.output} | {i.name for i in graph.input} | {t.name for t in graph.initializer}
    renamed: dict[str, str] = {}
    for node in graph.node:
        for index, name in enumerate(node.output):
            if name and name not in keep:
                renamed[name] = renamed.get(name) or f"t{len(renamed)}"
                node.output[index] = renamed[name]
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
