"""QDQ graph rewrites that let ONNX Runtime keep more of the graph in INT8 (ONNX Runtime CPU scheme only).

``sink_dequantize``: a residual Add whose one input comes from a DequantizeLinear through ops that only move values
(Slice, Pad with zeros, Reshape, Transpose, ...) runs in float, and so does the chain: ONNX Runtime fuses
``DQ -> Add -> Q`` into QLinearAdd only when every Add input is a DequantizeLinear. The rewrite runs the chain on
the quantized tensor and dequantizes after it; a zero pad becomes a pad with the zero point. Values are identical
(dequantization is elementwise and per-tensor here), so parity is unchanged.

Worked example (CIFAR ResNet option-A shortcut)::

    before:  q -> DequantizeLinear(s, zp) -> Slice -> Pad(0) -> Add      (float Slice, Pad and Add)
    after:   q -> Slice -> Pad(zp) -> DequantizeLinear(s, zp) -> Add      (uint8 Slice and Pad, QLinearAdd)

On the shared ResNet20 this turns the last 2 float Adds into QLinearAdd. The classifier's input gets the same
treatment through its Flatten.

``quantize_gemm_bias``: ONNX Runtime fuses ``DQ(A), DQ(B) -> Gemm`` into QGemm only with an int32 bias behind a
DequantizeLinear (scale = scale_A * scale_B, zero point 0), the form quantize_static writes; with a float bias the
Gemm runs in float and its int8 weights are dequantized on every run (1.28M of them for MobileNetV2's classifier).
The bias is rounded to that scale: an error of at most half a step, far below the activations' own rounding.
TensorRT rejects int32 bias DequantizeLinear, so the TensorRT scheme never gets this.

Example::

    model = onnx.load("int8.onnx")
    sink_dequantize(model)       # returns how many Add/Gemm inputs were rewritten
    quantize_gemm_bias(model)    # returns how many Gemm biases became int32
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

MOVERS = frozenset({"Slice", "Pad", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"})
"""Ops that only move or copy values (Pad only with mode constant and a zero pad value)."""


def _scalar(inits: dict[str, onnx.TensorProto], name: str) -> np.ndarray | None:
    if name not in inits:
        return None
    value = numpy_helper.to_array(inits[name])
    return value if value.size == 1 else None


def _zero_pad(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
    if mode != "constant":
        return False
    if len(node.input) < 3 or not node.input[2]:
        return True
    value = _scalar(inits, node.input[2])
    return value is not None and float(value) == 0.0


def _chain(name: str, producers: dict[str, onnx.NodeProto], consumers: dict[str, int],
           inits: dict[str, onnx.TensorProto]) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
    """The value-moving ops (last first) between ``name`` and a per-tensor DequantizeLinear, if that is what it is."""
    chain: list[onnx.NodeProto] = []
    node = producers.get(name)
    while node is not None and node.op_type in MOVERS and node.domain in ("", "ai.onnx"):
        if node.op_type == "Pad" and not _zero_pad(node, inits):
            return None
        if chain and consumers.get(node.output[0], 0) != 1:
            return None  # an intermediate result used elsewhere must stay float
        chain.append(node)
        node = producers.get(node.input[0])
    if not chain or node is None or node.op_type != "DequantizeLinear" or len(node.input) < 3:
        return None
    if _scalar(inits, node.input[1]) is None or _scalar(inits, node.input[2]) is None:
        return None
    if consumers.get(chain[0].output[0], 0) != 1:
        return None
    return chain, node


def sink_dequantize(model: onnx.ModelProto) -> int:
    """Move DequantizeLinear below value-moving chains that feed an Add (see the module docstring)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    rewritten = 0
    targets = [n for n in graph.node if n.op_type in ("Add", "Gemm") and n.domain in ("", "ai.onnx")]
    for add in targets:
        for index, name in enumerate(add.input[:1] if add.op_type == "Gemm" else add.input):
            found = _chain(name, producers, consumers, inits)
            if found is None:
                continue
            chain, dq = found
            first = chain[-1]
            first.input[0] = dq.input[0]  # the chain now reads the quantized tensor
            for node in chain:
                if node.op_type == "Pad":
                    pad_value = f"{node.name or node.output[0]}_zero_point"
                    zero_point = numpy_helper.to_array(inits[dq.input[2]]).reshape(())
                    graph.initializer.append(numpy_helper.from_array(zero_point, pad_value))
                    inits[pad_value] = graph.initializer[-1]
                    inputs = list(node.input) + [""] * (3 - len(node.input))
                    inputs[2] = pad_value
                    del node.input[:]
                    node.input.extend(inputs)
            sunk = helper.make_node("DequantizeLinear", [chain[0].output[0], dq.input[1], dq.input[2]],
                                    [f"{name}_dequantized"], name=f"{add.name or 'Add'}_input{index}_dq")
            graph.node.insert(list(graph.node).index(add), sunk)
            add.input[index] = sunk.output[0]
            rewritten += 1
    if rewritten:
        _drop_dead_dequantize(graph)
    return rewritten


def _drop_dead_dequantize(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    dead = [n for n in graph.node if n.op_type == "DequantizeLinear" and not any(o in used for o in n.output)]
    for node in dead:
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]  # e.g. the float pad values replaced by zero points
    del graph.initializer[:]
    graph.initializer.extend(keep)
    del graph.value_info[:]  # the moved chains now carry quantized types


def quantize_gemm_bias(model: onnx.ModelProto) -> int:
    """Give each Gemm with dequantized A and B an int32 bias behind a DequantizeLinear (see the module docstring)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    changed = 0
    for gemm in [n for n in graph.node if n.op_type == "Gemm" and len(n.input) == 3 and n.input[2] in inits]:
        dq_a, dq_b = producers.get(gemm.input[0]), producers.get(gemm.input[1])
        if any(d is None or d.op_type != "DequantizeLinear" or d.input[1] not in inits for d in (dq_a, dq_b)):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
        bias = numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float32)
        scale_a = numpy_helper.to_array(inits[dq_a.input[1]])  # type: ignore[union-attr]
        scale_b = numpy_helper.to_array(inits[dq_b.input[1]])  # type: ignore[union-attr]
        if scale_a.size != 1 or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or bias.ndim != 1:
            continue
        if attrs.get("beta", 1.0) != 1.0 or scale_b.size not in (1, bias.size):
            continue
        scale = (scale_a.reshape(()) * scale_b.astype(np.float32)).astype(np.float32)
        scale = np.broadcast_to(scale, bias.shape).copy()
        quantized = np.clip(np.rint(bias / scale), -(2**31), 2**31 - 1).astype(np.int32)
        base = gemm.name or gemm.output[0]
        graph.initializer.extend([
            numpy_helper.from_array(quantized, f"{base}_bias_int32"),
            numpy_helper.from_array(scale, f"{base}_bias_scale"),
            numpy_helper.from_array(np.zeros_like(quantized), f"{base}_bias_zero_point"),
        ])
        dq = helper.make_node("DequantizeLinear", [f"{base}_bias_int32", f"{base}_bias_scale",
                                                   f"{base}_bias_zero_point"], [f"{base}_bias"], axis=0,
                              name=f"{base}_bias_dq")
        graph.node.insert(list(graph.node).index(gemm), dq)
        gemm.input[2] = dq.output[0]
        changed += 1
    if changed:
        _drop_dead_dequantize(graph)
    return changed


DEPTHWISE_ALIGN = 16
"""MLAS's symmetric int8 depthwise kernel (x86) needs a multiple of 16 channels, else a generic path runs."""
INPUT_ALIGN = 4
"""MLAS's symmetric int8 conv kernel needs input and output channels that are multiples of 4."""


def _per_tensor(node: onnx.NodeProto | None, inits: dict[str, onnx.TensorProto]) -> bool:
    return (node is not None and len(node.input) == 3 and node.op_type in ("QuantizeLinear", "DequantizeLinear")
            and _scalar(inits, node.input[1]) is not None and _scalar(inits, node.input[2]) is not None)


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


def _users(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def fold_scalar_scaling(model: onnx.ModelProto) -> int:
    """``DQ(q, s, zp) -> Div(c)`` (or ``Mul(c)``), c > 0 a scalar constant, becomes ``DQ(q, s / c, zp)``.

    The ``/ 6`` of hard-swish then needs no float op: the dequantized value is the same up to float rounding.
    Returns how many were folded.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    users = _users(graph)
    folded = 0
    for op in [n for n in graph.node if n.op_type in ("Div", "Mul") and n.domain in ("", "ai.onnx")]:
        dq, constant = producers.get(op.input[0]), _scalar(inits, op.input[1])
        if constant is None or float(constant) <= 0 or not _per_tensor(dq, inits) or len(users[op.input[0]]) != 1:
            continue
        scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float32)  # type: ignore[union-attr]
        scale = scale / np.float32(constant) if op.op_type == "Div" else scale * np.float32(constant)
        name = f"{op.name or op.output[0]}_folded_scale"
        graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), name))
        dq.input[1] = name  # type: ignore[union-attr]
        dq.output[0] = op.output[0]  # type: ignore[union-attr]
        graph.node.remove(op)
        folded += 1
    if folded:
        _drop_dead_dequantize(graph)
    return folded


def quantize_scalar_operands(model: onnx.ModelProto) -> int:
    """Give a scalar float constant operand of an Add or Mul a DequantizeLinear when its other operand has one.

    ONNX Runtime fuses ``DQ, DQ -> Add -> Q`` into QLinearAdd only with both operands dequantized; a constant
    ``c`` becomes ``DQ(255, c / 255, 0)`` (``DQ(0, -c / 255, 255)`` when negative). Returns how many.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    changed = 0
    for op in [n for n in graph.node if n.op_type in ("Add", "Mul") and n.domain in ("", "ai.onnx")]:
        for index in (0, 1):
            constant, other = _scalar(inits, op.input[index]), producers.get(op.input[1 - index])
            if constant is None or float(constant) == 0 or not _per_tensor(other, inits):
                continue
            value = float(constant)
            base = f"{op.name or op.output[0]}_operand{index}"
            level, zero_point = (255, 0) if value > 0 else (0, 255)
            graph.initializer.extend([
                numpy_helper.from_array(np.array(level, np.uint8), f"{base}_q"),
                numpy_helper.from_array(np.array(abs(value) / 255, np.float32), f"{base}_scale"),
                numpy_helper.from_array(np.array(zero_point, np.uint8), f"{base}_zero_point"),
            ])
            dq = helper.make_node("DequantizeLinear", [f"{base}_q", f"{base}_scale", f"{base}_zero_point"],
                                  [f"{base}_dq"], name=f"{base}_dq")
            graph.node.insert(list(graph.node).index(op), dq)
            op.input[index] = dq.output[0]
            changed += 1
    if changed:
        _drop_dead_dequantize(graph)
    return changed
