"""Export a torch model to ONNX with the exporter that honours the opset, simplify it, check it.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: the dynamo exporter ignores opsets below
18, and TensorRT 8.5 (JetPack 5) parses at most 17 (DESIGN: measured facts).

Example::

    path = export_onnx(model, art.input, Path("model.onnx"), opset=17)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from edgecv.artifacts import InputSpec, atomic_path
from edgecv.errors import ModelError

MAX_LEGACY_OPSET = 17


def choose_opset(requested: int | None, device_max_opsets: list[int]) -> int:
    """The recipe's opset, else the lowest limit among the target devices, capped at what the exporter honours."""
    if requested is not None:
        return requested
    return min([MAX_LEGACY_OPSET, *device_max_opsets])


def export_onnx(model: nn.Module, spec: InputSpec, path: Path, *, opset: int, simplify: bool = True) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically), optionally simplified with onnxslim, then check it."""
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
            graph = _simplify(graph)
        onnx.checker.check_model(graph, full_check=True)
        onnx.save(graph, str(tmp))
    return path


def _simplify(graph: object) -> object:
    """onnxslim: constant folding, dead-node removal and fusions that keep the graph's numerics."""
    import onnxslim

    return onnxslim.slim(graph)
