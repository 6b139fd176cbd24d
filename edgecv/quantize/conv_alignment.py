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

``widen_channel_regions`` runs first and does the same in the weights alone where it can: the dense conv writing
those channels gets zero filters, the one reading them zero input weights, and everything between runs 80 wide
(no Pad, no Slice at run time; MobileNetV3's 7 misaligned depthwise convs and EfficientNet's 6/10-channel
squeeze-excitation convs). What it cannot widen (the RGB stem: its input is the graph's) gets the Pad/Slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


CHANNELWISE = frozenset({"QuantizeLinear", "DequantizeLinear", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
                         "Identity", "GlobalAveragePool", "Add", "Mul", "Sub", "Div"})
"""Ops that compute each channel from the same channel only (Q/DQ only per-tensor, other operands scalar or alike)."""


@dataclass
class _Region:
    """The tensors that carry one set of misaligned channels, between the dense convs that write and read them."""

    channels: int
    tensors: set[str] = field(default_factory=set)
    writers: set[str] = field(default_factory=set)
    """Dense convs (group 1) whose output is in the region: they get zero filters."""
    readers: set[str] = field(default_factory=set)
    """Dense convs whose input is in the region: they get zero weights for the new input channels."""
    depthwise: set[str] = field(default_factory=set)


def _region(start: str, channels: int, graph: onnx.GraphProto, shapes: dict[str, list[int]],
            inits: dict[str, onnx.TensorProto]) -> _Region | None:
    """Every tensor connected to ``start`` through channel-wise ops and depthwise convs, bounded by dense convs;
    None when it reaches anything else (a graph input or output, a reshape, a Gemm, a concat...)."""
    producers = {out: node for node in graph.node for out in node.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    boundary = {v.name for v in (*graph.input, *graph.output)}
    region, todo = _Region(channels), [start]

    def operands(node: onnx.NodeProto) -> list[str] | None:
        """The data inputs of a channel-wise node (None if a constant operand is not a scalar)."""
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Clip"):
            constants = [name for name in node.input[1:] if name]
            return [node.input[0]] if all(_scalar_init(inits, name) for name in constants) else None
        if not all(_scalar_init(inits, name) for name in node.input if name in inits):
            return None  # a per-channel constant would need padding too
        return [name for name in node.input if name and name not in inits and math.prod(shapes.get(name, [0])) != 1]

    def conv(node: onnx.NodeProto, name: str) -> bool:
        """Record a conv reached through tensor ``name``; False if it cannot be widened."""
        group = next((int(a.i) for a in node.attribute if a.name == "group"), 1)
        if group == channels:
            region.depthwise.add(node.name)
            todo.extend([node.input[0], node.output[0]])
        elif group == 1:
            (region.readers if node.input[0] == name else region.writers).add(node.name)
        return group in (1, channels)

    while todo:
        name = todo.pop()
        if name in region.tensors:
            continue
        shape = shapes.get(name)
        if name in boundary or name in inits or shape is None or len(shape) != 4 or shape[1] != channels:
            return None
        region.tensors.add(name)
        for node in [producers[name]] if name in producers else []:
            if node.op_type == "Conv" and node.domain in ("", "ai.onnx"):
                if not conv(node, name):
                    return None
            elif node.op_type in CHANNELWISE and node.domain in ("", "ai.onnx"):
                data = operands(node)
                if data is None:
                    return None
                todo.extend(data)
            else:
                return None
        for node in users.get(name, []):
            if node.op_type == "Conv" and node.domain in ("", "ai.onnx") and node.input[0] == name:
                if not conv(node, name):
                    return None
            elif node.op_type in CHANNELWISE and node.domain in ("", "ai.onnx"):
                data = operands(node)
                if data is None or name not in data:
                    return None
                todo.extend([*data, node.output[0]])
            else:
                return None
    return region


def _scalar_init(inits: dict[str, onnx.TensorProto], name: str) -> bool:
    return name in inits and int(np.prod(inits[name].dims)) == 1


def widen_channel_regions(model: onnx.ModelProto) -> int:
    """Give convs whose channels MLAS's fast int8 kernels do not take (see ``align_conv_channels``) the aligned count
    by widening every tensor that carries those channels, in the weights, so no Pad or Slice runs. Returns how many
    regions were widened; ``align_conv_channels`` then pads what is left (a region reaching the graph input, a
    reshape, a Gemm...).

    ``align_conv_channels`` pads a depthwise conv's input and slices its output at run time: on MobileNetV3-large at
    224x224, batch 1, its 7 Pads and 7 Slices took 0.19 of 3.5 ms. Here the dense conv that writes the channels gets
    zero filters, every channel-wise op between (hard-swish, squeeze-excitation's average pool, gate and multiply)
    runs on the wider tensor, the squeeze-excitation conv that writes the gate gets filters too, and each dense conv
    that reads them gets zero weights for the extra input channels. The extra channels never reach an original one,
    so every output is unchanged.
    """
    graph = model.graph
    shapes = _shapes(model)
    if not shapes:
        return 0
    inits = {t.name: t for t in graph.initializer}
    by_name = {node.name: node for node in graph.node}
    if len(by_name) != len(graph.node) or "" in by_name:
        return 0  # regions are recorded by node name
    widened = 0
    for node in list(graph.node):
        weight = _conv_weight(node, graph, inits) if node.op_type == "Conv" else None
        if weight is None:
            continue
        group = next((int(a.i) for a in node.attribute if a.name == "group"), 1)
        if group > 1 and group == weight.shape[0] and weight.shape[1] == 1:
            channels, align = group, DEPTHWISE_ALIGN
        elif group == 1:
            channels, align = weight.shape[1], INPUT_ALIGN
        else:
            continue
        if channels % align == 0:
            continue
        region = _region(node.input[0], channels, graph, shapes, inits)
        if region is None or not region.writers or not region.readers:
            continue
        align = DEPTHWISE_ALIGN if region.depthwise else INPUT_ALIGN
        convs = [by_name[n] for n in (*region.writers, *region.readers, *region.depthwise)]
        if any(_conv_weight(c, graph, inits) is None for c in convs):
            continue
        for conv in convs:
            _widen_conv(graph, inits, conv, -channels % align, axis=1 if conv.name in region.readers else 0,
                        depthwise=conv.name in region.depthwise)
        shapes = _shapes(model)
        widened += 1
    if widened:
        _drop_dead_dequantize(graph)
    return widened


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static tensor shapes from ONNX shape inference (batch dimension as 1 when dynamic)."""
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]  # stale after a widening
    try:
        inferred = onnx.shape_inference.infer_shapes(bare)
    except Exception:  # shape inference is best effort: no shapes means no widening
        return {}
    shapes = {}
    for value in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    return shapes


def _conv_weight(conv: onnx.NodeProto, graph: onnx.GraphProto, inits: dict[str, onnx.TensorProto]) -> np.ndarray | None:
    """The int8 4-D weight behind the conv's weight DequantizeLinear (used by this conv only), with a constant bias."""
    dq = next((n for n in graph.node if conv.input[1] in n.output), None)
    if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits or len(dq.input) < 3:
        return None
    if sum(conv.input[1] in n.input for n in graph.node) != 1:
        return None
    if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in inits:
        return None
    weight = inits[dq.input[0]]
    if weight.data_type != onnx.TensorProto.INT8 or len(weight.dims) != 4:
        return None
    return numpy_helper.to_array(weight)


def _widen_conv(graph: onnx.GraphProto, inits: dict[str, onnx.TensorProto], conv: onnx.NodeProto, extra: int, *,
                axis: int, depthwise: bool) -> None:
    """Zero weights for ``extra`` more output (axis 0) or input (axis 1) channels; per-channel scales padded with 1."""
    dq = next(n for n in graph.node if conv.input[1] in n.output)
    base = conv.name
    weight = _pad_axis(numpy_helper.to_array(inits[dq.input[0]]), axis, extra)
    name = f"{base}_w_widened_{'out' if axis == 0 else 'in'}"  # a squeeze-excitation conv can be widened both ways
    added = [numpy_helper.from_array(weight, name)]
    inputs = [name, dq.input[1], dq.input[2]]
    if axis == 0:
        for index, fill in ((1, 1.0), (2, 0)):
            value = numpy_helper.to_array(inits[dq.input[index]])
            if value.size > 1:
                added.append(numpy_helper.from_array(_pad_axis(value, 0, extra, fill), f"{base}_w_widened_{index}"))
                inputs[index] = added[-1].name
        if len(conv.input) > 2 and conv.input[2]:
            bias = numpy_helper.to_array(inits[conv.input[2]])
            added.append(numpy_helper.from_array(_pad_axis(bias, 0, extra), f"{base}_bias_widened"))
            conv.input[2] = added[-1].name
    if depthwise:
        conv.attribute.remove(next(a for a in conv.attribute if a.name == "group"))
        conv.attribute.append(helper.make_attribute("group", weight.shape[0]))
    graph.initializer.extend(added)
    for tensor in added:
        inits[tensor.name] = tensor
    del dq.input[:]
    dq.input.extend(inputs)
