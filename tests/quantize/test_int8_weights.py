"""Int8 weight storage in a hand-built QDQ ONNX: same outputs in ONNX Runtime, a quarter of the weight bytes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgecv.quantize.int8_weights import compact, quantize_array, store_int8_weights
from edgecv.quantize.onnx_graph import layer_counts


def qdq_conv_model(out_channels: int = 64, in_channels: int = 32) -> onnx.ModelProto:
    """input -> Q/DQ (uint8) -> Conv(weight: float -> Q/DQ int8 per-channel) -> output."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((out_channels, in_channels, 3, 3)).astype(np.float32)
    w_scale = (np.abs(weight).reshape(out_channels, -1).max(axis=1) / 127).astype(np.float32)
    inits = [
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(out_channels, np.int8), "w_zp"),
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "x_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zp"], ["xq"], name="input_q"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xdq"], name="input_dq"),
        helper.make_node("QuantizeLinear", ["w", "w_scale", "w_zp"], ["wq"], name="w_q", axis=0),
        helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wdq"], name="w_dq", axis=0),
        helper.make_node("Conv", ["xdq", "wdq"], ["output"], name="conv", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, in_channels, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, out_channels, 8, 8])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_stored_int8_weights_give_identical_outputs_in_a_quarter_of_the_bytes() -> None:
    model = qdq_conv_model()
    x = np.random.default_rng(1).standard_normal((2, 32, 8, 8)).astype(np.float32)
    before, size_before = run(model, x), model.ByteSize()
    assert store_int8_weights(model) == 1
    compact(model)
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(run(model, x), before)
    inits = {t.name: t for t in model.graph.initializer}
    assert "w" not in inits and inits["w_quantized"].data_type == TensorProto.INT8
    assert [n.op_type for n in model.graph.node].count("QuantizeLinear") == 1  # only the activation's
    assert model.ByteSize() < 0.3 * size_before
    assert layer_counts(model) == {"quantized": 1, "total": 1, "float": []}


def test_quantize_array_rounds_half_to_even_and_saturates() -> None:
    values = np.array([[0.5, 1.5, 2.5, -0.5], [1000.0, -1000.0, 0.26, -0.26]], np.float32)
    got = quantize_array(values, np.array([1.0, 0.5], np.float32), np.zeros(2, np.int8), axis=0)
    assert got.tolist() == [[0, 2, 2, 0], [127, -128, 1, -1]]
    unsigned = quantize_array(values[:1], np.array(1.0, np.float32), np.array(10, np.uint8), axis=1)
    assert unsigned.dtype == np.uint8 and unsigned.tolist() == [[10, 12, 12, 10]]


def shortcut_model() -> onnx.ModelProto:
    """An option-A shortcut: x -> Q/DQ -> Slice(::2) -> Pad(channels, 0) -> Add(other Q/DQ input) -> Q/DQ."""
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(3, np.uint8), "zp"),
        numpy_helper.from_array(np.array([0, 0], np.int64), "starts"),
        numpy_helper.from_array(np.array([100, 100], np.int64), "ends"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([2, 2], np.int64), "steps"),
        numpy_helper.from_array(np.array([0, 2, 0, 0, 0, 2, 0, 0], np.int64), "pads"),
        numpy_helper.from_array(np.array(0.0, np.float32), "pad_value"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="x_q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xdq"], name="x_dq"),
        helper.make_node("Slice", ["xdq", "starts", "ends", "axes", "steps"], ["sliced"], name="slice"),
        helper.make_node("Pad", ["sliced", "pads", "pad_value"], ["padded"], name="pad"),
        helper.make_node("QuantizeLinear", ["y", "s", "zp"], ["yq"], name="y_q"),
        helper.make_node("DequantizeLinear", ["yq", "s", "zp"], ["ydq"], name="y_dq"),
        helper.make_node("Add", ["ydq", "padded"], ["sum"], name="add"),
        helper.make_node("QuantizeLinear", ["sum", "s", "zp"], ["sq"], name="sum_q"),
        helper.make_node("DequantizeLinear", ["sq", "s", "zp"], ["output"], name="sum_dq"),
    ]
    graph = helper.make_graph(
        nodes, "shortcut",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 4, 4])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_sinking_dequantize_below_a_shortcut_is_exact_and_fuses_the_add(tmp_path) -> None:
    from edgecv.quantize.onnx_graph import ort_fusion
    from edgecv.quantize.qdq_rewrites import sink_dequantize

    model = shortcut_model()
    rng = np.random.default_rng(2)
    feeds = {"x": rng.uniform(-0.1, 5, (1, 4, 8, 8)).astype(np.float32),
             "y": rng.uniform(-0.1, 5, (1, 8, 4, 4)).astype(np.float32)}

    def outputs(m: onnx.ModelProto) -> np.ndarray:
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]

    before = outputs(model)
    onnx.save(model, tmp_path / "before.onnx")
    assert "Add" in ort_fusion(tmp_path / "before.onnx")["ops"]  # the float shortcut keeps the Add float
    assert sink_dequantize(model) == 1
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(outputs(model), before)
    pad = next(n for n in model.graph.node if n.op_type == "Pad")
    assert numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == pad.input[2])) == 3
    onnx.save(model, tmp_path / "after.onnx")
    fused = ort_fusion(tmp_path / "after.onnx")
    assert fused.get("QLinearAdd") == 1 and "Add" not in fused["ops"]


def test_an_int32_gemm_bias_lets_onnx_runtime_fuse_qgemm(tmp_path) -> None:
    from edgecv.quantize.onnx_graph import ort_fusion
    from edgecv.quantize.qdq_rewrites import quantize_gemm_bias

    rng = np.random.default_rng(3)
    # 7-bit weights: full-range ones saturate ONNX Runtime's u8s8 kernels on x86 without VNNI (edgecv.quantize.cpu_isa)
    weight = rng.integers(-64, 64, (10, 64)).astype(np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
        numpy_helper.from_array(np.array(0, np.uint8), "a_zp"),
        numpy_helper.from_array(weight, "w"),
        numpy_helper.from_array(rng.uniform(0.001, 0.01, 10).astype(np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(10, np.int8), "w_zp"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "a_scale", "a_zp"], ["xq"], name="x_q"),
        helper.make_node("DequantizeLinear", ["xq", "a_scale", "a_zp"], ["xdq"], name="x_dq"),
        helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zp"], ["wdq"], name="w_dq", axis=0),
        helper.make_node("Gemm", ["xdq", "wdq", "bias"], ["output"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "fc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [2, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.uniform(0, 5, (2, 64)).astype(np.float32)
    before = run_feed(model, {"x": x})
    assert quantize_gemm_bias(model) == 1
    onnx.checker.check_model(model, full_check=True)
    step = 0.02 * 0.01 / 2  # half an int32 bias step at most
    np.testing.assert_allclose(run_feed(model, {"x": x}), before, atol=step + 1e-5)
    onnx.save(model, tmp_path / "fc.onnx")
    ops = ort_fusion(tmp_path / "fc.onnx")["ops"]
    assert ops.get("QGemm") == 1 and "Gemm" not in ops


def run_feed(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
