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

from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper

WeightStorage = Literal["float", "int8", "uint8"]
"""How a QDQ file holds its quantized weights: float behind QuantizeLinear (TensorRT's form), int8 initializers, or
uint8 initializers with zero point 128 (ONNX Runtime's u8u8 kernels, :mod:`edgecv.quantize.cpu_isa`)."""


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


def uint8_shifted(tensor: onnx.TensorProto, name: str) -> onnx.TensorProto:
    """An int8 initializer as uint8 + 128 under ``name``: with its zero point shifted the same way, the same values."""
    return numpy_helper.from_array((numpy_helper.to_array(tensor).astype(np.int16) + 128).astype(np.uint8), name)


def weights_as_uint8(model: onnx.ModelProto) -> int:
    """Store every int8 weight initializer (a DequantizeLinear's constant input) as uint8 with its zero point + 128:
    the same values, run by ONNX Runtime's u8u8 kernels, which do not saturate on x86 without VNNI
    (:mod:`edgecv.quantize.cpu_isa`). Each converted weight gets its own uint8 zero point (int8 zero points may be
    shared with activation quantizers); returns how many weights were converted. Run it after every rewrite that
    edits int8 weights (they pad with int8 zeros)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    other_readers = {name for node in graph.node for i, name in enumerate(node.input)
                     if node.op_type != "DequantizeLinear" or i != 0}
    converted: dict[str, str] = {}  # int8 weight -> its zero point's uint8 copy (a weight may feed several DQs)
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3 or node.input[0] not in inits:
            continue
        weight, zero_point = inits[node.input[0]], inits.get(node.input[2])
        if weight.data_type != onnx.TensorProto.INT8 or zero_point is None or len(weight.dims) < 2:
            continue
        if node.input[0] in other_readers:
            continue  # read as int8 elsewhere too: leave it
        if node.input[0] not in converted:
            converted[node.input[0]] = f"{weight.name}_zero_point_u8"
            graph.initializer.append(uint8_shifted(zero_point, converted[node.input[0]]))
            weight.CopyFrom(uint8_shifted(weight, weight.name))
        node.input[2] = converted[node.input[0]]
    _drop_unused_initializers(graph)
    return len(converted)


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
