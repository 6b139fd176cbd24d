"""What a quantized ONNX file holds and what ONNX Runtime makes of it.

``layer_counts`` reads the file: which weighted ops (Conv, Gemm, MatMul, ConvTranspose) take a DequantizeLinear
weight. ``ort_fusion`` asks ONNX Runtime for the graph it actually executes (``SessionOptions.
optimized_model_filepath``) and counts the quantized kernels: when INT8 is not faster than FP32 this shows why
(a conv left as ``Conv`` or ``FusedConv`` runs in float between DequantizeLinear and QuantizeLinear).

Example::

    layer_counts(onnx.load("int8.onnx"))    # {"quantized": 20, "total": 20, "float": []}
    ort_fusion("int8.onnx")                 # {"QLinearConv": 19, "float_convs": 0, "convs": 19, ...}
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import onnx

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
QUANTIZED_KERNELS = ("QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
                     "QLinearAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "MatMulInteger",
                     "ConvInteger", "DynamicQuantizeMatMul")
FLOAT_CONVS = ("Conv", "FusedConv", "NchwcConv")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
LAYOUT_OPS = ("Transpose", "ReorderInput", "ReorderOutput")
FREE_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Shape")
MOVERS = ("Pad", "Slice", "Concat", "Gather", "Split", "MaxPool", "NhwcMaxPool", "Expand", "Tile", "Transpose",
          "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "ReorderInput", "ReorderOutput")
"""Ops that move values: they run on uint8 when their input is quantized, and count as float ops only if it is not."""
INTEGER_OPS = (*MOVERS, "Clip")
"""Ops that run on uint8 when their input is quantized (Clip: an aligned hard-sigmoid gate, exact on the integers)."""
UINT8_OUT = ("QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
             "QLinearAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QuantizeLinear")
"""Kernels whose output is quantized (QGemm and the integer-accumulating kernels may output float)."""


def _float_ops(nodes: list[onnx.NodeProto]) -> Counter[str]:
    """Op types computing in float: not Q/DQ or a quantized kernel, and value-moving ops only on float inputs."""
    quantized: set[str] = set()
    found: Counter[str] = Counter()
    for node in nodes:  # the optimized graph is topologically sorted
        if node.op_type in UINT8_OUT or (node.op_type in INTEGER_OPS and node.input and node.input[0] in quantized):
            quantized.update(node.output)
        elif node.op_type not in (*QUANTIZED_KERNELS, *QDQ_OPS, *LAYOUT_OPS, *FREE_OPS):
            found[node.op_type] += 1
    return found


def layer_counts(model: onnx.ModelProto) -> dict[str, Any]:
    """Weighted ops whose weight comes from a DequantizeLinear (quantized) out of all of them."""
    producers = {out: node for node in model.graph.node for out in node.output}
    from edgecv.quantize.average_pool_conv import POOL_CONV_SUFFIX

    weighted = [n for n in model.graph.node if n.op_type in WEIGHTED_OPS and len(n.input) > 1
                and not n.name.endswith(POOL_CONV_SUFFIX)]
    float_ops = []
    for node in weighted:
        producer = producers.get(node.input[1])
        if producer is None or producer.op_type != "DequantizeLinear":
            float_ops.append(node.name or node.op_type)
    return {"quantized": len(weighted) - len(float_ops), "total": len(weighted), "float": float_ops}


def ort_fusion(path: str | Path, threads: int = 1) -> dict[str, Any]:
    """Op counts of the graph ONNX Runtime (CPU, all optimizations) executes for ``path``.

    Returns the quantized kernels found, ``convs`` (Conv nodes in the file) and ``float_convs`` (convs that stayed
    float after optimization), plus ``ops``: every op type of the optimized graph with its count, ``float_ops``: the
    ops that compute in float (neither a quantized kernel, Q/DQ, a layout change, a free reshape, nor a Pad, Slice,
    Concat, MaxPool ... on a quantized tensor), ``qdq``: how many
    QuantizeLinear/DequantizeLinear run, ``layout``: how many Transposes/NCHWc reorders run,
    ``float_conv_names``: the float convs' node names in the optimized graph, and ``uint8_weight_convs``: the
    QLinearConvs whose weights are uint8 (ONNX Runtime's u8u8 kernels, slower than u8s8 on x86).
    """
    import onnxruntime as ort

    convs = sum(n.op_type == "Conv" for n in onnx.load(str(path)).graph.node)
    with tempfile.TemporaryDirectory() as folder:
        optimized = Path(folder) / "optimized.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3  # the NCHWc "hardware specific" serialization warning is expected here
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(optimized)).graph
    nodes = list(graph.node)
    uint8_weights = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.UINT8}
    counts = Counter(n.op_type for n in nodes)
    result: dict[str, Any] = {op: counts[op] for op in QUANTIZED_KERNELS if counts[op]}
    result["convs"] = convs
    result["float_convs"] = sum(counts[op] for op in FLOAT_CONVS)
    result["ops"] = dict(sorted(counts.items()))
    result["float_ops"] = dict(_float_ops(nodes).most_common())
    result["qdq"] = sum(counts[op] for op in QDQ_OPS)
    result["layout"] = sum(counts[op] for op in LAYOUT_OPS)
    result["float_conv_names"] = [n.name or n.output[0] for n in nodes if n.op_type in FLOAT_CONVS]
    result["uint8_weight_convs"] = sum(n.op_type == "QLinearConv" and n.input[3] in uint8_weights for n in nodes)
    return result
