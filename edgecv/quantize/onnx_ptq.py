"""INT8 post-training quantization of an ONNX graph (a user's ``model.onnx``) with NNCF's ONNX backend.

The same scheme settings as the torch path (:func:`edgecv.quantize.nncf_ptq.nncf_arguments`: presets, per-tensor
activations, per-channel weights, range estimators, fast bias correction). NNCF's ONNX backend writes weights as
int8 initializers behind DequantizeLinear (the ONNX Runtime CPU form); for the TensorRT scheme they are put back
as float weights behind QuantizeLinear -> DequantizeLinear (:func:`float_weights_behind_qdq`, the form every
TensorRT 8.x/10.x parser takes) and unsigned symmetric activations become int8 with the same range
(:func:`signed_activations`). A detector's appended decoding (:data:`edgecv.tasks.detection.onnx_decoding.
DECODE_PREFIX`) is never quantized.

Example::

    data = onnx_calibration(task, splits.train, preprocessing, "input", size=32, batch=1)
    quantized = quantize_onnx(model, ORT_CPU, data, params, ignored=["/head/Conv"])
"""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgecv.quantize.nncf_ptq import Calibration, nncf_arguments
from edgecv.quantize.schemes import Scheme

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.tasks.base import Task

FLOAT_PREFIXES = ("decode/",)
"""Node-name prefixes NNCF must leave in float: a detector's decoding appended to a user's graph."""


def onnx_calibration(task: Task, dataset: Dataset[Any], pre: Preprocessing, input_name: str, size: int,
                     batch: int, seed: int = 0) -> Calibration:
    """``size`` images of ``dataset`` (the task's seeded subset) as NNCF ONNX inputs ``{input_name: array}``;
    ``batch`` is the graph's fixed batch, if it has one (the subset is cut to a multiple of it)."""
    import nncf
    import torch

    subset = task.subset(dataset, size, seed)
    count = len(subset) - len(subset) % batch  # type: ignore[arg-type]
    subset = torch.utils.data.Subset(subset, range(max(count, batch)))
    loader = task.loader(subset, pre, batch)
    return Calibration(nncf.Dataset(loader, lambda b: {input_name: b[0].numpy()}), math.ceil(len(subset) / batch),
                       len(subset))


def quantize_onnx(model: onnx.ModelProto, scheme: Scheme, calibration: Calibration, params: Any,
                  ignored: list[str]) -> onnx.ModelProto:
    """NNCF PTQ of ``model`` in ``scheme`` with the nodes ``ignored`` (and any decoding) left in float."""
    import nncf

    patterns = [f"^{re.escape(prefix)}.*" for prefix in FLOAT_PREFIXES]
    kwargs = nncf_arguments(scheme, params, ignored, patterns)
    logging.getLogger("nncf").setLevel(logging.ERROR)
    quantized = nncf.quantize(model, calibration.dataset, subset_size=calibration.batches, **kwargs)
    from edgecv.quantize.onnx_float_layers import drop_dead_end_qdq

    drop_dead_end_qdq(quantized)
    if scheme.signed_activations:
        signed_activations(quantized)
    return quantized


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def signed_activations(model: onnx.ModelProto) -> int:
    """Make unsigned symmetric activation quantizers (uint8, zero point 0) int8 with the same range; how many.

    TensorRT takes only int8 with zero point 0; NNCF makes post-ReLU activations unsigned. The range [0, 255 s]
    becomes [-127 s', 127 s'] with s' = 255 s / 127, so no value clips (the torch path does the same)."""
    inits = _initializers(model)
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    changed: set[str] = set()
    for node in list(model.graph.node):
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or node.input[2] not in inits:
            continue
        zero = numpy_helper.to_array(inits[node.input[2]])
        if zero.dtype != np.uint8 or np.any(zero != 0) or node.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32) * np.float32(255 / 127)
        scale_name, zero_name = f"{node.output[0]}_int8_scale", f"{node.output[0]}_int8_zero_point"
        model.graph.initializer.extend([numpy_helper.from_array(scale, scale_name),
                                        numpy_helper.from_array(np.zeros_like(zero, dtype=np.int8), zero_name)])
        for quantizer in [node, *(n for n in readers.get(node.output[0], []) if n.op_type == "DequantizeLinear")]:
            quantizer.input[1], quantizer.input[2] = scale_name, zero_name
        changed.add(node.output[0])
    stale = [v for v in model.graph.value_info if v.name in changed]  # they still say uint8
    for value in stale:
        model.graph.value_info.remove(value)
    drop_unused_initializers(model)
    return len(changed)


def dequantized_weight(model: onnx.ModelProto, dequantize: onnx.NodeProto) -> np.ndarray | None:
    """The float values a DequantizeLinear of an initializer yields (None when its input is not constant)."""
    inits = _initializers(model)
    if any(name not in inits for name in dequantize.input[:3] if name):
        return None
    values = numpy_helper.to_array(inits[dequantize.input[0]]).astype(np.float32)
    scale = numpy_helper.to_array(inits[dequantize.input[1]]).astype(np.float32)
    zero = numpy_helper.to_array(inits[dequantize.input[2]]).astype(np.float32) if len(dequantize.input) > 2 and \
        dequantize.input[2] else np.zeros_like(scale)
    axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * values.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((values - zero) * scale).astype(np.float32)


def float_weights_behind_qdq(model: onnx.ModelProto) -> int:
    """Int8 weight initializers -> their exact float values behind QuantizeLinear -> DequantizeLinear; how many."""
    inits = _initializers(model)
    nodes = list(model.graph.node)
    changed = 0
    for dequantize in nodes:
        if dequantize.op_type != "DequantizeLinear" or dequantize.input[0] not in inits:
            continue
        if numpy_helper.to_array(inits[dequantize.input[0]]).dtype not in (np.int8, np.uint8):
            continue
        values = dequantized_weight(model, dequantize)
        if values is None:
            continue
        float_name, quantized_name = f"{dequantize.input[0]}_float", f"{dequantize.input[0]}_requantized"
        model.graph.initializer.append(numpy_helper.from_array(values, float_name))
        quantize = onnx.helper.make_node("QuantizeLinear", [float_name, *dequantize.input[1:]], [quantized_name],
                                         name=f"{dequantize.name}_weight_quantize", **_axis(dequantize))
        model.graph.node.insert(list(model.graph.node).index(dequantize), quantize)
        dequantize.input[0] = quantized_name
        changed += 1
    drop_unused_initializers(model)
    return changed


def _axis(node: onnx.NodeProto) -> dict[str, int]:
    return {a.name: a.i for a in node.attribute if a.name == "axis"}


def drop_unused_initializers(model: onnx.ModelProto) -> None:
    """Remove initializers no node reads."""
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
