"""Pad QDQ convs to the channel counts MLAS's fast int8 kernels take (ONNX Runtime CPU scheme); values unchanged.

MLAS (ONNX Runtime's CPU kernels) runs a u8s8 conv with symmetric weights through its fast "ConvSym" kernels only
when a depthwise conv has a multiple of 16 channels and a dense conv multiples of 4 input and output channels;
other convs take a generic path that was slower than FP32 here: MobileNetV3's 72/120/184/200-channel depthwise
convs ran 2.5x slower than padded to 80/128/192/208, and the RGB stem (3 input channels) 4x slower than with 4.

``align_conv_channels`` gives a depthwise conv zero filters up to a multiple of 16 (its uint8 input padded with
the zero point, its quantized output sliced back) and a dense conv zero input channels up to a multiple of 4::

    before:  x_q -> DequantizeLinear -> Conv(group=72, 72 filters) -> [Relu] -> QuantizeLinear -> y_q
    after:   x_q -> Pad(+8 channels, zero point) -> DequantizeLinear -> Conv(group=80, 8 zero filters) -> [Relu]
                 -> QuantizeLinear -> Slice(channels 0:72) -> y_q
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgecv.quantize.qdq_rewrites import _drop_dead_dequantize, _per_tensor

DEPTHWISE_ALIGN = 16
"""MLAS's symmetric int8 depthwise kernel (x86) needs a multiple of 16 channels, else a generic path runs."""
INPUT_ALIGN = 4
"""MLAS's symmetric int8 conv kernel needs input and output channels that are multiples of 4."""


def _fused_conv(conv: onnx.NodeProto, producers: dict[str, onnx.NodeProto], users: dict[str, list[onnx.NodeProto]],
                inits: dict[str, onnx.TensorProto]) -> tuple[onnx.NodeProto, onnx.NodeProto, onnx.NodeProto] | None:
    """(input DQ, weight DQ, output Q) of a conv ONNX Runtime turns into QLinearConv, with an int8 4-D weight."""
    dq_x, dq_w = producers.get(conv.input[0]), producers.get(conv.input[1])
    outs = users.get(conv.output[0], [])
    if len(outs) == 1 and outs[0].op_type in ("Relu", "Clip"):  # ONNX Runtime folds it into the QuantizeLinear
        outs = users.get(outs[0].output[0], [])
    if not _per_tensor(dq_x, inits) or len(outs) != 1 or not _per_tensor(outs[0], inits) or outs[0].op_type != \
            "QuantizeLinear" or dq_w is None or dq_w.op_type != "DequantizeLinear" or dq_w.input[0] not in inits:
        return None
    weight = inits[dq_w.input[0]]
    if weight.data_type != onnx.TensorProto.INT8 or len(weight.dims) != 4 or len(dq_w.input) < 3:
        return None
    if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in inits:
        return None
    return dq_x, dq_w, outs[0]  # type: ignore[return-value]


def _pad_axis(array: np.ndarray, axis: int, extra: int, value: float = 0) -> np.ndarray:
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, extra)
    return np.pad(array, widths, constant_values=value)


def align_conv_channels(model: onnx.ModelProto) -> int:
    """Pad QDQ convs to the channel counts MLAS's fast int8 kernels take; values unchanged. Returns how many.

    A depthwise conv gets zero filters up to a multiple of ``DEPTHWISE_ALIGN`` channels (its uint8 input padded
    with the zero point, its quantized output sliced back); a dense conv gets zero input channels up to a multiple
    of ``INPUT_ALIGN`` (the RGB stem: 3 -> 4).
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    changed = 0
    for conv in [n for n in graph.node if n.op_type == "Conv" and n.domain in ("", "ai.onnx")]:
        found = _fused_conv(conv, producers, users, inits)
        if found is None:
            continue
        dq_x, dq_w, q_out = found
        weight = numpy_helper.to_array(inits[dq_w.input[0]])
        group = next((int(a.i) for a in conv.attribute if a.name == "group"), 1)
        channels = weight.shape[0]
        if group > 1 and group == channels and weight.shape[1] == 1 and channels % DEPTHWISE_ALIGN:
            extra_in = extra_out = -channels % DEPTHWISE_ALIGN
        elif group == 1 and weight.shape[1] % INPUT_ALIGN:
            extra_in, extra_out = -weight.shape[1] % INPUT_ALIGN, 0
        else:
            continue
        _pad_conv(graph, inits, conv, (dq_x, dq_w, q_out), extra_in, extra_out, users)
        changed += 1
    if changed:
        _drop_dead_dequantize(graph)
    return changed


def _pad_conv(graph: onnx.GraphProto, inits: dict[str, onnx.TensorProto], conv: onnx.NodeProto,
              nodes: tuple[onnx.NodeProto, onnx.NodeProto, onnx.NodeProto], extra_in: int, extra_out: int,
              users: dict[str, list[onnx.NodeProto]]) -> None:
    """Rewrite one conv (see ``align_conv_channels``): Pad -> DQ -> Conv (padded weights) -> Q [-> Slice]."""
    dq_x, dq_w, q_out = nodes
    base = conv.name or conv.output[0]
    depthwise = extra_out > 0
    weight = numpy_helper.to_array(inits[dq_w.input[0]])
    weight = _pad_axis(weight, 0, extra_out) if depthwise else _pad_axis(weight, 1, extra_in)
    added = [numpy_helper.from_array(weight, f"{base}_w_aligned"),
             numpy_helper.from_array(np.array([0, 0, 0, 0, 0, extra_in, 0, 0], np.int64), f"{base}_pads"),
             numpy_helper.from_array(numpy_helper.to_array(inits[dq_x.input[2]]).reshape(()), f"{base}_pad_value")]
    w_inputs = [f"{base}_w_aligned", dq_w.input[1], dq_w.input[2]]
    if depthwise:
        scale = numpy_helper.to_array(inits[dq_w.input[1]])
        zero = numpy_helper.to_array(inits[dq_w.input[2]])
        added += [numpy_helper.from_array(_pad_axis(scale, 0, extra_out, 1.0) if scale.size > 1 else scale,
                                          f"{base}_w_scale_aligned"),
                  numpy_helper.from_array(_pad_axis(zero, 0, extra_out) if zero.size > 1 else zero,
                                          f"{base}_w_zero_point_aligned")]
        w_inputs[1:] = [f"{base}_w_scale_aligned", f"{base}_w_zero_point_aligned"]
        if len(conv.input) > 2 and conv.input[2]:
            bias = numpy_helper.to_array(inits[conv.input[2]])
            added.append(numpy_helper.from_array(_pad_axis(bias, 0, extra_out), f"{base}_bias_aligned"))
            conv.input[2] = f"{base}_bias_aligned"
        conv.attribute.remove(next(a for a in conv.attribute if a.name == "group"))
        conv.attribute.append(helper.make_attribute("group", weight.shape[0]))
    graph.initializer.extend(added)
    new = [helper.make_node("Pad", [dq_x.input[0], f"{base}_pads", f"{base}_pad_value"], [f"{base}_x_aligned"],
                            name=f"{base}_pad"),
           helper.make_node("DequantizeLinear", [f"{base}_x_aligned", dq_x.input[1], dq_x.input[2]],
                            [f"{base}_x_aligned_dq"], name=f"{base}_x_dq"),
           helper.make_node("DequantizeLinear", w_inputs, [f"{base}_w_dq"], name=f"{base}_w_dq",
                            **({"axis": 0} if numpy_helper.to_array(inits[dq_w.input[1]]).size > 1 else {}))]
    index = list(graph.node).index(conv)
    for offset, node in enumerate(new):
        graph.node.insert(index + offset, node)
    conv.input[0], conv.input[1] = f"{base}_x_aligned_dq", f"{base}_w_dq"
    if depthwise:
        channels = weight.shape[0] - extra_out
        graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), f"{base}_slice_start"),
                                  numpy_helper.from_array(np.array([channels], np.int64), f"{base}_slice_end"),
                                  numpy_helper.from_array(np.array([1], np.int64), f"{base}_slice_axis")])
        sliced = q_out.output[0]
        q_out.output[0] = f"{base}_q_aligned"
        graph.node.insert(list(graph.node).index(q_out) + 1, helper.make_node(
            "Slice", [q_out.output[0], f"{base}_slice_start", f"{base}_slice_end", f"{base}_slice_axis"], [sliced],
            name=f"{base}_slice"))

