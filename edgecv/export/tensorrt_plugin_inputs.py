"""The ``plugin-inputs`` rule: what EfficientNMS_TRT accepts, read from the types and shapes the graph declares.

From NVIDIA/TensorRT ``plugin/efficientNMSPlugin`` (README "Inputs"/"Outputs" and ``configurePlugin`` /
``supportsFormatCombination`` of efficientNMSPlugin.cpp): 2 inputs (boxes, scores) or 3 (with anchors) and 4
outputs; every input float32 or float16, all of one type; scores ``[batch, boxes, classes]`` (or a trailing 1);
boxes ``[batch, boxes, 4]`` or ``[batch, boxes, 1 or classes, 4]``; anchors rank 3; the number of boxes the same
in every input; ``box_coding`` 0 (corners) or 1 (center-size); ``max_output_boxes`` at least 1.

Example::

    checker = Checker(model_with_nms, parser_spec(10, 3), None)   # check_efficient_nms runs per plugin node
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx
from onnx import TensorProto

if TYPE_CHECKING:
    from edgecv.export.tensorrt_checker import Checker

__all__ = ["TensorInfo", "check_efficient_nms", "tensor_types"]

TensorInfo = tuple[int, list[int | str | None] | None]
"""A tensor's element type and its dims (an int, a symbolic name, or None when unknown); dims None: rank unknown."""

FLOATS = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16"}


def _info(value: onnx.ValueInfoProto) -> TensorInfo | None:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        return None
    if not tensor.HasField("shape"):
        return tensor.elem_type, None
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
    return tensor.elem_type, dims


def _declared(graph: onnx.GraphProto) -> dict[str, TensorInfo]:
    found = {i.name: (i.data_type, list(i.dims)) for i in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        info = _info(value)
        if info is not None:
            found.setdefault(value.name, info)  # type: ignore[arg-type]
    return found  # type: ignore[return-value]


def tensor_types(model: onnx.ModelProto) -> dict[str, TensorInfo]:
    """Types and shapes of the main graph's tensors: as declared, else as ONNX shape inference finds them."""
    found = _declared(model.graph)
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an op inference cannot read: keep what the graph declares
        return found
    for name, info in _declared(inferred.graph).items():
        found.setdefault(name, info)
    return found


def _same(a: int | str | None, b: int | str | None) -> bool:
    """Equal, or not comparable statically (unknown, or two different symbolic names)."""
    if isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0:
        return a == b
    return True


def _attribute(node: onnx.NodeProto, name: str) -> object:
    found = next((a for a in node.attribute if a.name == name), None)
    return None if found is None else onnx.helper.get_attribute_value(found)


def _shape_reasons(boxes: list[int | str | None], scores: list[int | str | None]) -> list[str]:
    reasons = []
    classes = scores[2] if len(scores) > 2 else None
    if len(scores) not in (3, 4) or (len(scores) == 4 and scores[3] not in (1, None)):
        reasons.append(f"scores must be [batch, boxes, classes], not rank {len(scores)} {scores}")
    if len(boxes) == 3 and boxes[2] not in (4, None):
        reasons.append(f"boxes [batch, boxes, 4] must end in 4, not {boxes[2]}")
    elif len(boxes) == 4 and (boxes[3] not in (4, None) or not (boxes[2] in (1, None) or _same(boxes[2], classes))):
        reasons.append(f"boxes [batch, boxes, 1 or classes, 4] do not fit {boxes} with scores {scores}")
    elif len(boxes) not in (3, 4):
        reasons.append(f"boxes must be [batch, boxes, 4], not rank {len(boxes)} {boxes}")
    if len(boxes) > 1 and len(scores) > 1 and not _same(boxes[1], scores[1]):
        reasons.append(f"boxes have {boxes[1]} boxes but scores {scores[1]}: the number of boxes must match")
    return reasons


def _attribute_reasons(node: onnx.NodeProto) -> list[str]:
    reasons = []
    coding, limit = _attribute(node, "box_coding"), _attribute(node, "max_output_boxes")
    if coding is not None and coding not in (0, 1):
        reasons.append(f"box_coding {coding} is neither 0 (corners) nor 1 (center-size)")
    if limit is not None and int(limit) < 1:  # type: ignore[call-overload]
        reasons.append(f"max_output_boxes {limit} must be at least 1")
    return reasons


def _type_reasons(infos: list[TensorInfo]) -> list[str]:
    types = {elem for elem, _ in infos}
    if types <= set(FLOATS) and len(types) <= 1:
        return []
    names = sorted(FLOATS.get(t) or TensorProto.DataType.Name(t).lower() for t in types)
    return [f"inputs must all be float32 or all float16, not {', '.join(names)}"]


def check_efficient_nms(checker: Checker, node: onnx.NodeProto, label: str) -> None:
    """One ``plugin-inputs`` problem naming everything wrong with an EfficientNMS_TRT node; a warning instead when
    the graph does not say its inputs' types and shapes (nothing else wrong)."""
    reasons = _attribute_reasons(node)
    if len(node.input) not in (2, 3) or len(node.output) != 4:
        reasons.append(
            "takes 2 or 3 inputs (boxes, scores[, anchors]) and gives 4 outputs, not "
            f"{len(node.input)} and {len(node.output)}"
        )
    infos = {name: checker.tensor_type(name) for name in node.input[:3]}
    unknown = [name for name, info in infos.items() if info is None or info[1] is None]
    known = [info for info in infos.values() if info is not None]
    reasons += _type_reasons(known)
    if len(node.input) >= 2 and not {node.input[0], node.input[1]} & set(unknown):
        reasons += _shape_reasons(infos[node.input[0]][1], infos[node.input[1]][1])  # type: ignore[arg-type, index]
    anchors = infos.get(node.input[2]) if len(node.input) == 3 else None
    if anchors is not None and anchors[1] is not None and len(anchors[1]) != 3:
        reasons.append(f"anchors must be [1 or batch, boxes, 4], not {anchors[1]}")
    if reasons:
        checker.add("plugin-inputs", label, node.op_type, "EfficientNMS_TRT " + "; ".join(reasons))
    elif unknown:
        checker.add(
            "plugin-inputs",
            label,
            node.op_type,
            f"EfficientNMS_TRT inputs {unknown} have no declared type "
            "and shape, so they were not checked; add value_info for them",
            "warning",
        )
