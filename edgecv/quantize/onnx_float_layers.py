"""Layers of a quantized ONNX graph put back in float, and their sensitivity ranking, for accuracy control.

A layer (Conv, ConvTranspose, Gemm, MatMul) is in float when its inputs no longer pass a Q/DQ pair: an activation
input reads the QuantizeLinear's float input directly, a weight becomes its exact dequantized values. Everything
else keeps the calibration it had, so a trial differs from the all-INT8 graph in those layers only (what NNCF's
ignored scope would give, without calibrating again: a trial costs one ONNX Runtime session, not a quantization).

Example::

    ranking = rank_onnx_layers(quantized, fp32_outputs, batches, quantized_layers(quantized))
    keep_float(quantized, [r.name for r in ranking[:3]])
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgecv.quantize.onnx_ptq import FLOAT_PREFIXES, dequantized_weight, drop_unused_initializers
from edgecv.quantize.sensitivity import LayerSensitivity

LAYER_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def quantized_layers(model: onnx.ModelProto) -> list[str]:
    """Names of the layers that read a DequantizeLinear output (the decoding's nodes excluded), in graph order."""
    producers = _producers(model)
    return [
        node.name for node in model.graph.node
        if node.op_type in LAYER_TYPES and not node.name.startswith(FLOAT_PREFIXES)
        and any(producers.get(x) is not None and producers[x].op_type == "DequantizeLinear" for x in node.input)
    ]


def keep_float(model: onnx.ModelProto, names: Iterable[str],
               original: onnx.ModelProto | None = None) -> onnx.ModelProto:
    """A copy of ``model`` with the layers ``names`` in float (see the module docstring); dead Q/DQ nodes go.

    ``original`` is the FP32 graph the quantized one came from: a layer found there under the same name and op
    takes its weights and bias back from it (quantization rounded the weights, and bias correction shifted the bias
    to compensate a quantization error the float layer no longer has); otherwise the weights are the dequantized
    values and the bias stays.
    """
    chosen = set(names)
    result = copy.deepcopy(model)
    producers = _producers(result)
    inits = {t.name for t in result.graph.initializer}
    source = _source_parameters(original, chosen) if original is not None else {}
    for node in result.graph.node:
        if node.name not in chosen:
            continue
        for index, tensor in enumerate(node.input):
            if index in source.get(node.name, {}):
                name = f"{node.name}_float_input{index}"
                result.graph.initializer.append(numpy_helper.from_array(source[node.name][index], name))
                node.input[index] = name
                continue
            dequantize = producers.get(tensor)
            if dequantize is None or dequantize.op_type != "DequantizeLinear":
                continue
            origin = dequantize.input[0]
            if origin in inits:  # an int8 weight initializer
                values = dequantized_weight(result, dequantize)
                if values is not None:
                    name = f"{origin}_float_{node.name}"
                    result.graph.initializer.append(numpy_helper.from_array(values, name))
                    node.input[index] = name
                continue
            quantize = producers.get(origin)
            if quantize is not None and quantize.op_type == "QuantizeLinear":
                node.input[index] = quantize.input[0]  # the float activation, or a float weight initializer
    _drop_dead_nodes(result)
    drop_unused_initializers(result)
    return result


def _source_parameters(original: onnx.ModelProto, names: set[str]) -> dict[str, dict[int, np.ndarray]]:
    """Per chosen layer of ``original``: its constant inputs (weights, bias) by input index."""
    inits = {t.name: t for t in original.graph.initializer}
    found: dict[str, dict[int, np.ndarray]] = {}
    for node in original.graph.node:
        if node.name in names and node.op_type in LAYER_TYPES:
            found[node.name] = {i: numpy_helper.to_array(inits[x]) for i, x in enumerate(node.input)
                                if i > 0 and x in inits}
    return found


def drop_dead_end_qdq(model: onnx.ModelProto) -> list[str]:
    """Bypass each activation Q/DQ pair whose tensor never reaches a layer with weights; return their Q nodes.

    Such a tensor only feeds float post-processing (a head's final Sigmoid/Softmax, a detector's decoding): an INT8
    kernel gains nothing there and an 8-bit grid on scores and boxes costs accuracy. The torch path's rule
    (:func:`edgecv.quantize.nncf_ptq.drop_dead_end_quantizers`), on the graph.
    """
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    inits = {t.name for t in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    memo: dict[str, bool] = {}

    def reaches_layer(tensor: str) -> bool:
        if tensor not in memo:
            memo[tensor] = False  # a cycle guard; ONNX graphs are acyclic
            memo[tensor] = any(n.op_type in LAYER_TYPES or any(reaches_layer(o) for o in n.output)
                               for n in readers.get(tensor, []))
        return memo[tensor]

    dropped = []
    for quantize in [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]:
        dequantizers = [n for n in readers.get(quantize.output[0], []) if n.op_type == "DequantizeLinear"]
        if not dequantizers or len(dequantizers) != len(readers.get(quantize.output[0], [])):
            continue
        if any(reaches_layer(dq.output[0]) or dq.output[0] in outputs for dq in dequantizers):
            continue  # a graph output keeps its pair: its name is the producer's
        for dq in dequantizers:
            for reader in readers.get(dq.output[0], []):
                reader.input[:] = [quantize.input[0] if x == dq.output[0] else x for x in reader.input]
        dropped.append(quantize.name)
    _drop_dead_nodes(model)
    drop_unused_initializers(model)
    return dropped


def _drop_dead_nodes(model: onnx.ModelProto) -> None:
    """Remove nodes none of whose outputs is read (by a node or as a graph output), until none is left."""
    outputs = {o.name for o in model.graph.output}
    while True:
        read = {name for node in model.graph.node for name in node.input} | outputs
        dead = [n for n in model.graph.node if not any(o in read for o in n.output)]
        if not dead:
            return
        for node in dead:
            model.graph.node.remove(node)


def run_batches(
    model: onnx.ModelProto, batches: list[np.ndarray], threads: int | None = None, optimize: bool | None = None,
) -> dict[str, Any]:
    """``model``'s outputs by name over ``batches`` (concatenated), through ONNX Runtime (``optimize``: see
    :class:`edgecv.runtime.OrtRunner`; False runs a Q/DQ graph as its exact fake quantization)."""
    from edgecv.runtime import OrtRunner

    with OrtRunner(model, threads=threads, optimize=optimize) as runner:
        parts = [runner.infer_all(batch) for batch in batches]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def output_nmse(candidate: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """Mean over outputs of each output's normalized squared error (outputs in different units weigh alike)."""
    import torch

    from edgecv.quantize.sensitivity import nmse

    return nmse({k: torch.from_numpy(v).float() for k, v in candidate.items()},
                {k: torch.from_numpy(v).float() for k, v in reference.items()})


def rank_onnx_layers(quantized: onnx.ModelProto, reference: dict[str, np.ndarray], batches: list[np.ndarray],
                     layers: list[str], threads: int | None = None,
                     original: onnx.ModelProto | None = None) -> list[LayerSensitivity]:
    """``layers`` from most to least sensitive: how much the output NMSE against ``reference`` (the FP32 graph's
    outputs on ``batches``) falls when the layer alone is in float (``original``: see :func:`keep_float`)."""
    base = output_nmse(run_batches(quantized, batches, threads), reference)
    producers = _producers(quantized)
    nodes = {n.name: n for n in quantized.graph.node}
    ranking = []
    for name in layers:
        error = output_nmse(run_batches(keep_float(quantized, [name], original), batches, threads), reference)
        pairs = sum(producers.get(x) is not None and producers[x].op_type == "DequantizeLinear"
                    for x in nodes[name].input)  # the Q/DQ pairs the layer reads (activation, weight)
        ranking.append(LayerSensitivity(name, name, base - error, error, pairs))
    return sorted(ranking, key=lambda r: r.score, reverse=True)
