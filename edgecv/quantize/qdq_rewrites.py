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

``fold_scalar_scaling`` / ``quantize_scalar_operands`` (hard-swish as QLinearAdd + QLinearMul: the ``/ 6`` folded
into a DequantizeLinear scale, the ``+ 3`` given a DequantizeLinear) and ``sink_dequantize_through`` (Concat, MaxPool
and reshapes run on the quantized tensor when their inputs share one scale) are documented at each function.

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
    return value.reshape(()) if value.size == 1 else None


def zero_pad(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
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
        if node.op_type == "Pad" and not zero_pad(node, inits):
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


def _per_tensor(node: onnx.NodeProto | None, inits: dict[str, onnx.TensorProto]) -> bool:
    return (node is not None and len(node.input) == 3 and node.op_type in ("QuantizeLinear", "DequantizeLinear")
            and _scalar(inits, node.input[1]) is not None and _scalar(inits, node.input[2]) is not None)


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


SINKABLE = frozenset({"Concat", "MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Slice",
                      "Gather", "Split"})
"""Ops that commute with a per-tensor DequantizeLinear (MaxPool: its scale is positive; Concat: one scale;
Gather and Split: only the data input is moved, indices and split sizes stay as they are)."""


def _same_params(nodes: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto]) -> bool:
    params = {(float(numpy_helper.to_array(inits[n.input[1]])), int(numpy_helper.to_array(inits[n.input[2]])),
               inits[n.input[2]].data_type) for n in nodes}
    return len(params) == 1 and next(iter(params))[0] > 0


def sink_dequantize_through(model: onnx.ModelProto) -> int:
    """Run Concat, MaxPool and reshapes on the quantized tensors when every input is dequantized alike; return how
    many nodes moved.

    NNCF quantizes the inputs of a concat with one shared scale and leaves its output float, so ONNX Runtime runs the
    Concat (and the MaxPool or reshape after it) in float and the conv they feed, with no DequantizeLinear in front,
    stays float too (SqueezeNet's squeeze convs, DenseNet, ShuffleNet). Moving the DequantizeLinear below them gives
    identical values and lets that conv fuse. A channel shuffle's Gather or Split (ShuffleNetV2, FastestDet) gets one
    DequantizeLinear per output, so each branch's first conv sees one.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    moved, changed = 0, True
    while changed:
        changed = False
        producers = {out: node for node in graph.node for out in node.output}
        users = _users(graph)
        for node in [n for n in graph.node if n.op_type in SINKABLE and n.domain in ("", "ai.onnx")]:
            data = node.input if node.op_type == "Concat" else node.input[:1]
            dqs = [producers[name] for name in data if name in producers]
            if len(dqs) != len(data) or not all(d.op_type == "DequantizeLinear" and _per_tensor(d, inits) for d in dqs):
                continue
            outs = [u for name in node.output for u in users.get(name, [])]
            if not outs or all(u.op_type == "QuantizeLinear" for u in outs) or not _same_params(dqs, inits):
                continue
            for index, dq in enumerate(dqs):
                node.input[index] = dq.input[0]
            at = list(graph.node).index(node) + 1
            for index, name in enumerate(node.output):
                sunk = helper.make_node("DequantizeLinear", [f"{name}_quantized", *dqs[0].input[1:]], [name],
                                        name=f"{node.name or node.op_type}_dq{index or ''}")
                node.output[index] = sunk.input[0]
                graph.node.insert(at + index, sunk)
            moved += 1
            changed = True
            break
    if moved:
        _drop_dead_dequantize(graph)
    return moved


def _constant_input(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto], value: float) -> int | None:
    """The index of the scalar initializer input equal to ``value`` (None if there is none)."""
    for index, name in enumerate(node.input):
        constant = _scalar(inits, name)
        if constant is not None and abs(float(constant) - value) <= 1e-6 * max(abs(value), 1.0):
            return index
    return None


def integer_hard_sigmoid(model: onnx.ModelProto) -> int:
    """``DQ(x_q, s, z) -> Add(3) -> Clip(0, 6) -> Div(6)`` with ``s * z = 3`` becomes
    ``Clip(x_q, 0, 2z) -> DQ(s / 6, 0)``; returns how many.

    Hard-swish and hard-sigmoid compute ``relu6(x + 3) / 6``. When x's uint8 grid holds -3 at level 0
    (:func:`edgecv.quantize.output_quantizers.aligned_hard_sigmoid_range`), ``x + 3 = s * x_q`` and the gate is an
    integer clip of x_q: one uint8 Clip (0.04 ns per value here) instead of a QLinearAdd into a [0, 6]
    quantizer (0.08-0.16 ns), with the same values up to float rounding. Hard-swish's ``x * gate`` then fuses into
    QLinearMul as before.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    users = _users(graph)
    changed = 0
    for add in [n for n in graph.node if n.op_type == "Add" and n.domain in ("", "ai.onnx")]:
        three = _constant_input(add, inits, 3.0)
        dq = producers.get(add.input[1 - three]) if three is not None else None
        clip = users.get(add.output[0], [None])[0] if len(users.get(add.output[0], [])) == 1 else None
        if dq is None or not _per_tensor(dq, inits) or dq.op_type != "DequantizeLinear" or clip is None:
            continue
        bounds = [_scalar(inits, name) for name in clip.input[1:]] if clip.op_type == "Clip" else []
        if [None if b is None else float(b) for b in bounds] != [0.0, 6.0] or len(users.get(clip.output[0], [])) != 1:
            continue
        div = users[clip.output[0]][0]
        if div.op_type != "Div" or div.input[0] != clip.output[0] or _constant_input(div, inits, 6.0) != 1:
            continue
        scale = float(numpy_helper.to_array(inits[dq.input[1]]))
        zero_point = numpy_helper.to_array(inits[dq.input[2]])
        if zero_point.dtype != np.uint8 or abs(scale * int(zero_point) - 3.0) > 1e-5:
            continue
        base = add.name or add.output[0]
        top = min(2 * int(zero_point), 255)
        graph.initializer.extend([
            numpy_helper.from_array(np.array(0, np.uint8), f"{base}_gate_low"),
            numpy_helper.from_array(np.array(top, np.uint8), f"{base}_gate_high"),
            numpy_helper.from_array(np.array(scale / 6, np.float32), f"{base}_gate_scale"),
            numpy_helper.from_array(np.array(0, np.uint8), f"{base}_gate_zero_point"),
        ])
        index = list(graph.node).index(add)
        for node in (add, clip, div):
            graph.node.remove(node)
        graph.node.insert(index, helper.make_node(
            "Clip", [dq.input[0], f"{base}_gate_low", f"{base}_gate_high"], [f"{base}_gate_q"], name=f"{base}_gate"))
        graph.node.insert(index + 1, helper.make_node(
            "DequantizeLinear", [f"{base}_gate_q", f"{base}_gate_scale", f"{base}_gate_zero_point"], [div.output[0]],
            name=f"{base}_gate_dq"))
        changed += 1
    if changed:
        _drop_dead_dequantize(graph)
    return changed
