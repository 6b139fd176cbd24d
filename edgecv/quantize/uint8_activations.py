"""Store signed activation quantizers as uint8 (ONNX Runtime CPU scheme only); values unchanged.

NNCF's ONNX backend quantizes an activation that can be negative (a depthwise conv's output without a ReLU, as in
ShuffleNetV2 blocks) as int8 with a zero point. ONNX Runtime's x86 int8 kernels take uint8 activations: its own
``QDQS8ToU8`` pass converts a QuantizeLinear/DequantizeLinear *pair*, but not one with an op between them (the
Slice that ``conv_alignment`` puts after a padded depthwise conv), so that conv and the next one ran in float
(FastestDet's first block: 0.45 ms of 7.2 ms). int8 ``q`` with zero point ``z`` is the same value as uint8
``q + 128`` with zero point ``z + 128``, so every activation quantizer is rewritten once, before any other rewrite
reads the types::

    before:  Conv -> QuantizeLinear(s, int8 -4) -> Slice -> DequantizeLinear(s, int8 -4)
    after:   Conv -> QuantizeLinear(s, uint8 124) -> Slice -> DequantizeLinear(s, uint8 124)

    uint8_activations(model)   # returns how many zero points became uint8

Weights (a DequantizeLinear of an initializer, or of a QuantizeLinear of one) are left to
:func:`edgecv.quantize.int8_weights.weights_as_uint8`, which runs last and only where the CPU needs it.
"""

from __future__ import annotations

import onnx

from edgecv.quantize.int8_weights import uint8_shifted


def uint8_activations(model: onnx.ModelProto) -> int:
    """Rewrite every int8 activation QuantizeLinear/DequantizeLinear zero point to uint8 (+128); how many."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    quantizers = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                  and n.domain in ("", "ai.onnx") and len(n.input) > 2]
    weight_outputs = {n.output[0] for n in quantizers if n.op_type == "QuantizeLinear" and n.input[0] in inits}
    # a zero point that any weight quantizer uses (an initializer, or a weight still behind a QuantizeLinear) stays
    weight_zero_points = {n.input[2] for n in quantizers if n.input[0] in inits or n.input[0] in weight_outputs}
    renamed: dict[str, str] = {}
    for node in quantizers:
        name = node.input[2]
        if name not in inits or name in weight_zero_points or inits[name].data_type != onnx.TensorProto.INT8:
            continue
        if name not in renamed:
            renamed[name] = f"{name}_uint8"
            graph.initializer.append(uint8_shifted(inits[name], renamed[name]))
        node.input[2] = renamed[name]
    if renamed:
        stale = [v for v in graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.INT8]
        for value in stale:  # shape inference typed the tensors between the quantizers int8
            graph.value_info.remove(value)
        used = {name for node in graph.node for name in node.input}
        for name in renamed:
            if name not in used:
                graph.initializer.remove(inits[name])
    return len(renamed)
