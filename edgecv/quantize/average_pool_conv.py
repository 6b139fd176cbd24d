"""Run a quantized AveragePool as a depthwise conv with constant weights (ONNX Runtime CPU scheme only).

ONNX Runtime turns ``DQ -> AveragePool -> Q`` into QLinearAveragePool, a plain loop far slower than its float
pooling or its int8 depthwise conv: on FastestDet (a 3x3 stride-2 pool over 48 x 44 x 44) it took 0.23-0.64 ms of
about 4.8 ms kernel time, against 0.01 ms for the float pool. An average over a k x k window is a depthwise conv
whose weights are all ``1 / k^2``; as int8 weights ``1`` with scale ``1 / k^2`` it is exact, and ONNX Runtime runs
it as a QLinearConv on the quantized tensor. Only pools that count the padding (``count_include_pad=1``, torch's
default) or have none qualify: a padded QLinearConv pads with the input zero point, which is the value 0. A zero
``Pad`` of height and width right before the pool (FastestDet's author export) becomes the conv's padding.

Example::

    before:  DQ(x_q) -> AveragePool(3x3, stride 2, pad 1) -> Q
    after:   DQ(x_q) -> Conv(group=C, weights DQ(int8 1, scale 1/9)) -> Q

    average_pool_as_depthwise_conv(model)   # returns how many pools became convs
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from edgecv.quantize.qdq_rewrites import zero_pad

POOL_CONV_SUFFIX = "_as_depthwise_conv"
"""Names the convs made from pools, so layer counts leave them out (they are not the model's layers)."""


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _channel_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Tensor name -> its channel count, for the rank-4 tensors whose channel dimension shape inference knows."""
    inferred = shape_inference.infer_shapes(model)
    counts = {}
    for value in [*inferred.graph.value_info, *inferred.graph.input]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value > 0:
            counts[value.name] = dims[1].dim_value
    return counts


def _convertible(pool: onnx.NodeProto) -> bool:
    attributes = _attributes(pool)
    kernel = list(attributes.get("kernel_shape", []))
    pads = list(attributes.get("pads", [0] * 2 * len(kernel)))
    return (len(kernel) == 2 and not attributes.get("ceil_mode", 0) and attributes.get("auto_pad", b"NOTSET") in
            (b"NOTSET", "NOTSET") and (attributes.get("count_include_pad", 0) or not any(pads)))


def _spatial_zero_pads(pad: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> list[int] | None:
    """A constant zero Pad of a 4-D tensor's height and width only, as conv pads (top, left, bottom, right)."""
    if pad.op_type != "Pad" or pad.domain not in ("", "ai.onnx") or not zero_pad(pad, inits):
        return None
    if len(pad.input) > 3 and pad.input[3]:
        return None  # explicit axes (opset 18): rare, left alone
    if len(pad.input) > 1 and pad.input[1]:
        if pad.input[1] not in inits:
            return None
        widths = [int(v) for v in numpy_helper.to_array(inits[pad.input[1]])]
    else:
        widths = [int(v) for v in _attributes(pad).get("pads", [])]  # type: ignore[union-attr]
    if len(widths) != 8 or any(widths[i] for i in (0, 1, 4, 5)) or min(widths) < 0:
        return None
    return [widths[2], widths[3], widths[6], widths[7]]


def average_pool_as_depthwise_conv(model: onnx.ModelProto) -> int:
    """Each AveragePool between a DequantizeLinear and a QuantizeLinear becomes an int8 depthwise conv."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    changed = 0
    counts: dict[str, int] | None = None  # shape inference once, and only for a graph with a pool to convert
    inits = {t.name: t for t in graph.initializer}
    for pool in [n for n in graph.node if n.op_type == "AveragePool" and n.domain in ("", "ai.onnx")]:
        pad = producers.get(pool.input[0])
        extra = _spatial_zero_pads(pad, inits) if pad is not None and len(readers.get(pad.output[0], [])) == 1 \
            else None
        source_name = pad.input[0] if pad is not None and extra is not None else pool.input[0]
        source = producers.get(source_name)
        after = readers.get(pool.output[0], [])
        if (source is None or source.op_type != "DequantizeLinear" or not after
                or any(r.op_type != "QuantizeLinear" for r in after) or not _convertible(pool)):
            continue
        counts = _channel_counts(model) if counts is None else counts
        channels = counts.get(source_name)
        if channels is None:
            continue
        attributes = _attributes(pool)
        kernel = list(attributes["kernel_shape"])
        pads = [int(p) for p in attributes.get("pads", [0, 0, 0, 0])]
        if extra is not None:  # the zero Pad before the pool becomes the conv's own zero padding
            pads = [a + b for a, b in zip(pads, extra, strict=True)]
            graph.node.remove(pad)
        base = pool.name or pool.output[0]
        graph.initializer.extend([
            numpy_helper.from_array(np.ones((channels, 1, *kernel), np.int8), f"{base}_weight_q"),
            numpy_helper.from_array(np.array(1.0 / (kernel[0] * kernel[1]), np.float32), f"{base}_weight_scale"),
            numpy_helper.from_array(np.array(0, np.int8), f"{base}_weight_zero_point"),
        ])
        dequantize = helper.make_node(
            "DequantizeLinear", [f"{base}_weight_q", f"{base}_weight_scale", f"{base}_weight_zero_point"],
            [f"{base}_weight"], name=f"{base}_weight_dq")
        conv = helper.make_node(
            "Conv", [source_name, f"{base}_weight"], list(pool.output), name=f"{base}{POOL_CONV_SUFFIX}",
            group=channels, kernel_shape=kernel, strides=list(attributes.get("strides", [1, 1])), pads=pads)
        index = list(graph.node).index(pool)
        graph.node.remove(pool)
        graph.node.insert(index, conv)
        graph.node.insert(index, dequantize)
        changed += 1
    return changed
