"""A detector's graph with TensorRT's EfficientNMS_TRT plugin appended: NMS inside the engine.

edgecv's detection graphs output ``boxes`` (N, A, 4) xyxy in input pixels and ``scores`` (N, A, C) class
probabilities; the score threshold and per-class NMS run outside them in NumPy
(:mod:`edgecv.deploy.detection_postprocess`). :func:`append_efficient_nms` feeds those two tensors to one
``EfficientNMS_TRT`` node whose attributes are the same :class:`PostprocessParams` (score threshold, IoU threshold,
detections per image), per-class NMS (``class_agnostic`` 0), no background class, probabilities as given
(``score_activation`` 0) and corner boxes (``box_coding`` 0), and makes its four outputs the graph's:
``num_detections`` (N, 1) int32, ``detection_boxes`` (N, K, 4), ``detection_scores`` (N, K) and
``detection_classes`` (N, K) int32, K = ``max_detections``.

The node's domain is ``TRT`` (as YOLOv7's end-to-end exporter writes it, ``models/experimental.py``), not the
default domain: ``onnx.checker`` refuses an unknown op in the default domain, and TensorRT's ONNX parser picks the
plugin by op type alone (:mod:`edgecv.export.tensorrt_plugins`). ONNX Runtime cannot run the result: it is a
TensorRT-only file.
Versions before TensorRT 8.5 may lack the ``class_agnostic`` field; the parser then ignores that attribute and the
plugin does per-class NMS, the same thing.

What the plugin does differs from edgecv's NumPy decoding in two details (NVIDIA's README): it keeps the 4096 best
candidates (edgecv 1000) before NMS, and its score filter and tie order are its own; nothing here ran it.

Example::

    nms = append_efficient_nms(onnx.load("trained.onnx"))
    [o.name for o in nms.graph.output]   # ['num_detections', 'detection_boxes', 'detection_scores', ...]
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from edgecv.deploy.detection_postprocess import PostprocessParams
from edgecv.errors import ModelError

__all__ = ["NMS_OUTPUTS", "PLUGIN", "PLUGIN_DOMAIN", "append_efficient_nms", "nms_attributes"]

PLUGIN = "EfficientNMS_TRT"
PLUGIN_DOMAIN = "TRT"
NMS_NODE = "efficient_nms"
NMS_OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")


def nms_attributes(params: PostprocessParams) -> dict[str, float | int | str]:
    """The plugin's attributes for edgecv's decoding ``params`` (see the module docstring)."""
    return {
        "score_threshold": float(params.score_threshold),
        "iou_threshold": float(params.iou_threshold),
        "max_output_boxes": int(params.max_detections),
        "background_class": -1,
        "score_activation": 0,
        "class_agnostic": 0,
        "box_coding": 0,
        "plugin_version": "1",
    }


def _output(graph: onnx.GraphProto, name: str, rank: int) -> onnx.ValueInfoProto:
    """A copy of the graph output ``name``, a float tensor of ``rank`` dims; a ModelError naming what differs."""
    found = next((o for o in graph.output if o.name == name), None)
    outputs = [o.name for o in graph.output]
    if found is None:
        raise ModelError(
            f"the graph has no output '{name}' (outputs: {outputs}); EfficientNMS_TRT is appended to "
            "edgecv's detection graphs, whose outputs are 'boxes' and 'scores'"
        )
    tensor = found.type.tensor_type
    dims = len(tensor.shape.dim) if tensor.HasField("shape") else None
    if tensor.elem_type not in (TensorProto.FLOAT, TensorProto.FLOAT16) or dims != rank:
        raise ModelError(
            f"output '{name}' is {TensorProto.DataType.Name(tensor.elem_type).lower()} of rank {dims}; "
            f"EfficientNMS_TRT needs float of rank {rank} ([batch, boxes, ...])"
        )
    copied = onnx.ValueInfoProto()
    copied.CopyFrom(found)
    return copied


def _dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in value.type.tensor_type.shape.dim]


def _nms_outputs(batch: int | str | None, kept: int, float_type: int) -> list[onnx.ValueInfoProto]:
    shapes = ([batch, 1], [batch, kept, 4], [batch, kept], [batch, kept])
    types = (TensorProto.INT32, float_type, float_type, TensorProto.INT32)
    return [helper.make_tensor_value_info(n, t, s) for n, t, s in zip(NMS_OUTPUTS, types, shapes, strict=True)]


def append_efficient_nms(
    model: onnx.ModelProto,
    params: PostprocessParams = PostprocessParams(),
    *,
    boxes: str = "boxes",
    scores: str = "scores",
) -> onnx.ModelProto:
    """A copy of ``model`` whose outputs are EfficientNMS_TRT's four, fed by its ``boxes`` and ``scores``."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    box_info, score_info = _output(graph, boxes, 3), _output(graph, scores, 3)
    box_dims, score_dims = _dims(box_info), _dims(score_info)
    anchors = (box_dims[1], score_dims[1])
    if box_dims[2] not in (4, None) or (all(isinstance(a, int) and a > 0 for a in anchors) and len(set(anchors)) > 1):
        raise ModelError(
            f"'{boxes}' {box_dims} and '{scores}' {score_dims} are not [batch, boxes, 4] and "
            "[batch, boxes, classes] with the same number of boxes"
        )
    taken = {n for node in graph.node for n in node.output} | {i.name for i in graph.input}
    clash = sorted(taken & {NMS_NODE, *NMS_OUTPUTS})
    if clash:
        raise ModelError(f"the graph already has tensors named {clash}; EfficientNMS_TRT's outputs need these names")
    kept = [o for o in graph.output if o.name not in (boxes, scores)]
    del graph.output[:]
    graph.output.extend(
        [*_nms_outputs(box_dims[0], int(params.max_detections), box_info.type.tensor_type.elem_type), *kept]
    )
    declared = {v.name for v in graph.value_info}  # their types stay declared, for the TensorRT checks
    graph.value_info.extend([v for v in (box_info, score_info) if v.name not in declared])
    graph.node.append(
        helper.make_node(
            PLUGIN, [boxes, scores], list(NMS_OUTPUTS), name=NMS_NODE, domain=PLUGIN_DOMAIN, **nms_attributes(params)
        )
    )
    if not any(o.domain == PLUGIN_DOMAIN for o in result.opset_import):
        result.opset_import.append(helper.make_opsetid(PLUGIN_DOMAIN, 1))
    onnx.checker.check_model(result)
    return result
