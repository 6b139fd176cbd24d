"""Export a torch model to ONNX with the exporter that honours the opset, simplify it, check it.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: the dynamo exporter ignores opsets below
18, and TensorRT 8.5 (JetPack 5) parses at most 17 (DESIGN: measured facts).

Example::

    path = export_onnx(model, art.input, Path("model.onnx"), opset=17)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from edgecv.artifacts import InputSpec, atomic_path
from edgecv.errors import ModelError

if TYPE_CHECKING:
    import onnx

MAX_LEGACY_OPSET = 17


def choose_opset(requested: int | None, device_max_opsets: list[int]) -> int:
    """The recipe's opset, else the lowest limit among the target devices, capped at what the exporter honours."""
    if requested is not None:
        return requested
    return min([MAX_LEGACY_OPSET, *device_max_opsets])


def export_onnx(model: nn.Module, spec: InputSpec, path: Path, *, opset: int, simplify: bool = True) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically), simplified if asked (:func:`simplify_onnx`), then checked."""
    import onnx

    model = model.eval().cpu()
    dummy = torch.zeros(1, *spec.shape)
    dynamic = {spec.name: {0: "batch"}, **{o: {0: "batch"} for o in spec.output_names}}
    with atomic_path(path) as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (dummy,),
                    str(tmp),
                    input_names=[spec.name],
                    output_names=spec.output_names,
                    dynamic_axes=dynamic if spec.dynamic_batch else None,
                    opset_version=opset,
                    do_constant_folding=True,
                    dynamo=False,
                )
        except Exception as exc:
            raise ModelError(f"ONNX export at opset {opset} failed: {exc}; try another export.opset") from exc
        graph = onnx.load(str(tmp))
        if simplify:
            graph = simplify_onnx(graph)
        onnx.checker.check_model(graph, full_check=True)
        onnx.save(graph, str(tmp))
    return path


def simplify_onnx(graph: onnx.ModelProto) -> onnx.ModelProto:
    """onnxslim: constant folding, dead-node removal and fusions that keep the graph's numerics.

    Where shape arithmetic survives it (``Shape``: sizes read at run time), ONNX's shape inference lost static sizes
    behind a symbolic batch: in a quantized export torch leaves DequantizeLinear outputs without sizes, so a channel
    split (``x.chunk(2, 1)``) becomes Shape -> Gather -> Div -> Slice, the reshape after it gets a computed shape and
    every size below it is unknown. ONNX Runtime's symbolic shape inference follows the batch symbol through that
    arithmetic; onnxslim then folds it to constant shapes (torchvision's ShuffleNetV2 INT8: 27 Shape, 66 Gather and
    24 Div ops gone; they also kept ONNX Runtime's int8 layout passes from fusing around them).
    """
    import onnxslim
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    slim = onnxslim.slim(graph)
    if not any(node.op_type == "Shape" for node in slim.graph.node):
        return slim
    try:
        inferred = SymbolicShapeInference.infer_shapes(slim, auto_merge=True)
    except Exception:  # an operator it does not know (a plugin): keep what onnxslim alone gave
        return slim
    return onnxslim.slim(inferred) if inferred is not None else slim
