"""Accuracy control's trials on one exported graph: a fake-quantized torch model exported once, layers put back in
float by editing that graph (:func:`edgecv.quantize.onnx_float_layers.keep_float`) instead of quantizing again.

The legacy exporter names a module's op by its scope: module ``layer1.0.conv1`` becomes node
``/layer1/layer1.0/conv1/Conv`` (a task's export wrapper adds its own prefix), so each layer with weights maps to
the one Conv/Gemm/MatMul node whose scope ends in its module name. A trial then costs one export-free edit and one
ONNX Runtime evaluation, and the layer ranking runs on the same graph (one session per layer, against the FP32
export's outputs) rather than one fake-quantized torch forward per layer. Layers that map to no node (an op
without a module) leave the search to the re-quantizing trials.

Example::

    graph = TrialGraph.export(quantized, spec, folder / "ort-cpu-base.onnx", opset, layers, wrap)
    path = graph.trial_file(["layer3.2.conv2"], folder / "trial.onnx", weights="int8")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

from edgecv.quantize.onnx_float_layers import LAYER_TYPES, keep_float

if TYPE_CHECKING:
    from torch import nn

    from edgecv.artifacts import InputSpec
    from edgecv.quantize.int8_weights import WeightStorage
    from edgecv.quantize.layers import Layer


def scope_module(node_name: str) -> str:
    """The dotted module path of an exported node: ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``.

    A container's child is named with its parent's segment in front (``first_conv/first_conv.0``), any other
    child by its attribute alone (``layer1.0/conv1``).
    """
    parts: list[str] = []
    previous = ""
    for segment in node_name.strip("/").split("/")[:-1]:
        parts.append(segment[len(previous) + 1:] if previous and segment.startswith(previous + ".") else segment)
        previous = segment
    return ".".join(parts)


def map_layers(model: onnx.ModelProto, layers: list[Layer], module: nn.Module | None = None) -> dict[str, str]:
    """Layer (module) name -> the graph node that runs it, for the layers that map to exactly one node.

    By scope first; a module called from outside its parent's forward (ESPNet's ``self.encoder.level1(x)`` in the
    top module's forward is scoped ``/net/level1``) is found by its weights instead: the node whose float weight
    initializer (behind its Q/DQ) equals the module's weight, when exactly one does.
    """
    scopes: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type in LAYER_TYPES:
            scopes.setdefault(scope_module(node.name), []).append(node.name)
    mapped = {}
    for layer in layers:
        found = [n for scope, names in scopes.items() if scope == layer.name or scope.endswith("." + layer.name)
                 for n in names]
        if len(found) == 1:
            mapped[layer.name] = found[0]
    if module is not None and len(mapped) < len(layers):
        by_weight = _nodes_by_weight(model)
        modules = dict(module.named_modules())
        for layer in layers:
            weight = getattr(modules.get(layer.name), "weight", None)
            if layer.name in mapped or weight is None:
                continue
            found = by_weight.get(_weight_key(weight.detach().cpu().numpy()), [])
            if len(found) == 1 and found[0] not in mapped.values():
                mapped[layer.name] = found[0]
    return mapped


def _weight_key(values: Any) -> tuple[tuple[int, ...], bytes]:
    import numpy as np

    array = np.ascontiguousarray(values, dtype=np.float32)
    return tuple(array.shape), array.tobytes()


def _nodes_by_weight(model: onnx.ModelProto) -> dict[tuple[tuple[int, ...], bytes], list[str]]:
    """Layer nodes by their float weight (input 1, followed back through DequantizeLinear/QuantizeLinear)."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    found: dict[tuple[tuple[int, ...], bytes], list[str]] = {}
    for node in model.graph.node:
        if node.op_type not in LAYER_TYPES or len(node.input) < 2:
            continue
        tensor = node.input[1]
        while tensor not in inits and tensor in producers and \
                producers[tensor].op_type in ("DequantizeLinear", "QuantizeLinear"):
            tensor = producers[tensor].input[0]
        if tensor in inits and inits[tensor].data_type == onnx.TensorProto.FLOAT:
            found.setdefault(_weight_key(numpy_helper.to_array(inits[tensor])), []).append(node.name)
    return found


@dataclass
class TrialGraph:
    """A fake-quantized model's QDQ graph before the scheme's rewrites, and its layers' nodes."""

    model: onnx.ModelProto
    nodes: dict[str, str]
    original: onnx.ModelProto | None = None
    """The FP32 export of the same model (same node names): float layers take their weights and bias from it."""

    @classmethod
    def export(cls, quantized: nn.Module, spec: InputSpec, path: Path, opset: int, layers: list[Layer],
               wrap: Callable[[nn.Module], nn.Module], original: onnx.ModelProto | None = None) -> TrialGraph:
        """Export ``quantized`` (NNCF fake-quantized) as QDQ ONNX at ``path``, without rewrites."""
        import torch

        from edgecv.export.onnx import export_onnx
        from edgecv.quantize.nncf_ptq import strip_quantized
        from edgecv.quantize.standard_ops import require_standard_ops

        stripped = strip_quantized(quantized, torch.zeros(1, *spec.shape))
        export_onnx(wrap(stripped), spec, path, opset=opset, simplify=True)
        model = onnx.load(str(path))
        require_standard_ops(model, path.name)
        # names by the FP32 export when there is one: its weights are float (the QDQ export may have folded
        # weight quantizers into int8 initializers), and both exports name their nodes alike
        present = {n.name for n in model.graph.node}
        names = {k: v for k, v in map_layers(original if original is not None else model, layers, quantized).items()
                 if v in present}
        rest = [x for x in layers if x.name not in names]  # e.g. a node the FP32 export's simplifier fused
        for name, node in map_layers(model, rest, quantized).items():
            if node not in names.values():
                names[name] = node
        return cls(model, names, original)

    def quantized_names(self) -> list[str] | None:
        """The layers with quantized inputs in the graph, by module name; None when one of them has no name."""
        from edgecv.quantize.onnx_float_layers import quantized_layers

        by_node = {node: name for name, node in self.nodes.items()}
        nodes = quantized_layers(self.model)
        return [by_node[n] for n in nodes] if all(n in by_node for n in nodes) else None

    def covers(self, names: list[str]) -> bool:
        """Whether every layer of ``names`` has its node in the graph."""
        return all(name in self.nodes for name in names)

    def trial_file(self, names: list[str], path: Path, *, weights: WeightStorage) -> Path:
        """The graph with ``names`` in float, in the scheme's form (rewrites, ``weights`` stored so), at ``path``."""
        from edgecv.quantize.onnx_export import rewrite_qdq

        onnx.save(keep_float(self.model, [self.nodes[n] for n in names], self.original), str(path))
        rewrite_qdq(path, weights)
        return path

    def rank(self, reference: Any, batches: list[Any], names: list[str], threads: int | None) -> list[Any]:
        """``names`` (mapped layers) from most to least sensitive on this graph, as LayerSensitivity by module name."""
        from edgecv.quantize.onnx_float_layers import rank_onnx_layers
        from edgecv.quantize.sensitivity import LayerSensitivity

        by_node = {self.nodes[n]: n for n in names}
        ranked = rank_onnx_layers(self.model, reference, batches, list(by_node), threads, self.original)
        return [LayerSensitivity(by_node[r.name], r.node, r.score, r.nmse_in_float, r.quantizers) for r in ranked]
