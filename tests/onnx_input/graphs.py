"""Tiny ONNX graphs made in tests: a classifier, a YOLO-style detector, and broken variants of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def classifier(path: Path, *, opset: int = 13, height: int | str = 16, width: int | str = 16, classes: int = 10,
               custom_op: bool = False, seed: int = 0) -> Path:
    """Conv(3->8, 3x3) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(8->classes), written to ``path``."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (classes, 8)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["r1"], ["p1"], name="pool"),
        helper.make_node("Flatten", ["p1"], ["f1"], name="flatten"),
        helper.make_node("Gemm", ["f1", "w2", "b2"], ["scores"], name="fc", transB=1),
    ]
    opsets = [helper.make_opsetid("", opset)]
    if custom_op:
        nodes.insert(2, helper.make_node("Mystery", ["r1"], ["r1m"], name="mystery", domain="com.acme"))
        nodes[3].input[0] = "r1m"
        opsets.append(helper.make_opsetid("com.acme", 1))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", classes])], inits,
    )
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8 if opset >= 13 else 7)
    onnx.save(model, str(path))
    return path
