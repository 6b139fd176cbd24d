"""Tiny ONNX classifiers for deploy tests: FP32, TensorRT-scheme Q/DQ, and a known-bad Q/DQ variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C_IN, C_OUT, SIDE = 3, 10, 16


def _init(name: str, values: object, dtype: object = np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def classifier(
    *,
    qdq: bool = False,
    uint8_activations: bool = False,
    per_channel_activation: bool = False,
    opset: int = 17,
    batch: int | str = "batch",
) -> onnx.ModelProto:
    """Conv(3->10) + ReLU + GlobalAveragePool + Flatten: (N, 3, 16, 16) -> (N, 10) logits named ``logits``.

    ``qdq`` quantizes the conv's input and weights the TensorRT way (int8, zero point 0, per-tensor activation,
    per-channel weights on axis 0); ``uint8_activations`` and ``per_channel_activation`` break it.
    """
    rng = np.random.default_rng(0)
    inits = [_init("W", rng.standard_normal((C_OUT, C_IN, 3, 3)) * 0.2), _init("B", rng.standard_normal(C_OUT))]
    nodes = []
    conv_in, conv_w = "input", "W"
    if qdq:
        act_scale = np.full(C_IN, 0.02) if per_channel_activation else 0.02
        zp_type = np.uint8 if uint8_activations else np.int8
        act_zp = (
            np.full(C_IN, 128 if uint8_activations else 0)
            if per_channel_activation
            else (128 if uint8_activations else 0)
        )
        axis = {"axis": 1} if per_channel_activation else {}
        inits += [
            _init("x_scale", act_scale),
            _init("x_zp", act_zp, zp_type),
            _init("w_scale", np.full(C_OUT, 0.01)),
            _init("w_zp", np.zeros(C_OUT), np.int8),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zp"], ["xq"], name="input_q", **axis),
            helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xdq"], name="input_dq", **axis),
            helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zp"], ["wq"], name="w_q", axis=0),
            helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wdq"], name="w_dq", axis=0),
        ]
        conv_in, conv_w = "xdq", "wdq"
    nodes += [
        helper.make_node("Conv", [conv_in, conv_w, "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["logits"], name="flatten"),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, C_IN, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, C_OUT])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path
