"""The INT8 ONNX holds only standard ONNX-domain ops: no vendor custom op (OpenVINO ``FakeQuantize``) survives.

ONNX Runtime and TensorRT load QuantizeLinear/DequantizeLinear and the rest of the ``ai.onnx`` domain; a custom
domain such as ``org.openvinotoolkit`` (what an unconverted NNCF quantizer exports as) makes the file unloadable
on every edge runtime, so every INT8 export is checked right after it is written.

Example::

    require_standard_ops(onnx.load("int8-ort-cpu.onnx"), "int8-ort-cpu.onnx")   # raises ValidationFailure
"""

from __future__ import annotations

import onnx

from edgecv.errors import ValidationFailure

STANDARD_DOMAINS = frozenset({"", "ai.onnx"})
VENDOR_OPS = frozenset({"FakeQuantize"})
"""Op types that are never standard, whatever domain a writer gave them."""


def nonstandard_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Nodes of the main graph (and nested subgraphs) outside the standard ONNX domain, or vendor op types."""
    found: list[onnx.NodeProto] = []
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.domain not in STANDARD_DOMAINS or node.op_type in VENDOR_OPS:
                found.append(node)
            graphs += [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]
            graphs += [g for a in node.attribute if a.type == onnx.AttributeProto.GRAPHS for g in a.graphs]
    return found


def require_standard_ops(model: onnx.ModelProto, name: str) -> None:
    """Raise a one-line ValidationFailure naming the first non-standard op and its node (and how many there are)."""
    bad = nonstandard_nodes(model)
    if not bad:
        return
    first = bad[0]
    op = f"{first.domain}::{first.op_type}" if first.domain else first.op_type
    raise ValidationFailure(
        f"{name}: the INT8 ONNX holds {len(bad)} non-standard op(s), first {op} at node '{first.name}'; "
        "ONNX Runtime and TensorRT load only standard QuantizeLinear/DequantizeLinear: this is an edgecv bug "
        "(an NNCF quantizer left unconverted); set quantize.fold_batchnorm or ignored_scope around that node, "
        "or use precision fp16"
    )
