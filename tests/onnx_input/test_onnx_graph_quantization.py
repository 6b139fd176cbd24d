"""NNCF's ONNX backend on a tiny graph, and the graph edits the ONNX path makes to its result."""

from __future__ import annotations

from pathlib import Path

import nncf
import numpy as np
import onnx
import pytest

from edgecv.quantize.nncf_ptq import Calibration
from edgecv.quantize.onnx_float_layers import keep_float, output_nmse, quantized_layers, run_batches
from edgecv.quantize.onnx_ptq import float_weights_behind_qdq, quantize_onnx, signed_activations
from edgecv.quantize.schemes import ORT_CPU, TENSORRT
from edgecv.stages.quantize import QuantizeParams
from tests.onnx_input.graphs import classifier


@pytest.fixture
def graph_and_data(tmp_path: Path) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    model = onnx.load(str(classifier(tmp_path / "m.onnx", opset=13)))
    rng = np.random.default_rng(1)
    batches = [rng.normal(0, 1, (4, 3, 16, 16)).astype(np.float32) for _ in range(4)]
    return model, batches


def _quantize(model: onnx.ModelProto, batches: list[np.ndarray], scheme: object) -> onnx.ModelProto:
    data = nncf.Dataset(batches, lambda b: {"images": b})
    return quantize_onnx(model, scheme, Calibration(data, len(batches), 16), QuantizeParams(type="quantize"), [])


def test_layers_back_in_float_restore_their_outputs(graph_and_data: tuple) -> None:
    model, batches = graph_and_data
    quantized = _quantize(model, batches, ORT_CPU)
    layers = quantized_layers(quantized)
    assert layers == ["conv1", "fc"]
    reference = run_batches(model, batches)
    errors = [output_nmse(run_batches(keep_float(quantized, chosen), batches), reference)
              for chosen in ([], ["conv1"], layers)]
    assert errors[0] > 1e-6  # INT8 moved the outputs
    assert errors[2] < errors[0] and errors[2] < 1e-4  # with both layers in float, only pooling's grid is left
    float_model = keep_float(quantized, layers)
    producers = {o: n for n in float_model.graph.node for o in n.output}
    for node in float_model.graph.node:
        if node.name in layers:
            assert not any(producers.get(x) is not None and producers[x].op_type == "DequantizeLinear"
                           for x in node.input), node.name
    assert quantized_layers(float_model) == []
    assert len(quantized.graph.node) > len(float_model.graph.node)  # the dead Q/DQ pairs are gone


def test_tensorrt_form_keeps_the_numbers(graph_and_data: tuple) -> None:
    model, batches = graph_and_data
    quantized = _quantize(model, batches, TENSORRT)
    inits = {t.name: t for t in quantized.graph.initializer}
    activation_zero_points = [inits[n.input[2]] for n in quantized.graph.node if n.op_type == "QuantizeLinear"
                              and n.input[0] not in inits and n.input[2] in inits]
    assert activation_zero_points and all(z.data_type == onnx.TensorProto.INT8 for z in activation_zero_points)
    # both forms as their exact fake quantization: ONNX Runtime's int8 kernels would run only the first one
    before = run_batches(quantized, batches, optimize=False)
    moved = float_weights_behind_qdq(quantized)
    assert moved == 2
    weight_types = {t.data_type for t in quantized.graph.initializer if len(t.dims) == 4}
    assert weight_types == {onnx.TensorProto.FLOAT}  # float weights behind QuantizeLinear -> DequantizeLinear
    after = run_batches(quantized, batches, optimize=False)
    np.testing.assert_allclose(after["scores"], before["scores"], rtol=0, atol=1e-6)


def test_unsigned_activation_becomes_int8_with_the_same_range() -> None:
    from onnx import TensorProto, helper, numpy_helper

    scale, zero = np.float32(0.02), np.uint8(0)
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
        [numpy_helper.from_array(np.array(scale), "s"), numpy_helper.from_array(np.array(zero), "z")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert signed_activations(model) == 1
    x = np.array([0.0, 1.0, 2.5, 5.1, 6.0], dtype=np.float32)  # 5.1 = 255 * 0.02: the unsigned range's top
    y = run_batches(model, [x])["y"]
    np.testing.assert_allclose(y[:4], x[:4], atol=255 * 0.02 / 127 / 2 + 1e-6)  # half a step of the int8 grid
    assert y[4] == pytest.approx(5.1, abs=1e-5)  # beyond the range: clipped where the uint8 grid clipped it


def test_a_quantizer_that_reaches_no_layer_is_bypassed() -> None:
    """Conv -> Q/DQ -> Sigmoid (an output) loses its pair; the Q/DQ feeding the conv stays."""
    from onnx import TensorProto, helper, numpy_helper

    from edgecv.quantize.onnx_float_layers import drop_dead_end_qdq

    def pair(tensor: str, tag: str) -> list[onnx.NodeProto]:
        return [helper.make_node("QuantizeLinear", [tensor, "s", "z"], [f"{tag}_q"], name=f"{tag}_quantize"),
                helper.make_node("DequantizeLinear", [f"{tag}_q", "s", "z"], [f"{tag}_dq"], name=f"{tag}_dequantize")]

    nodes = [*pair("x", "in"), helper.make_node("Conv", ["in_dq", "w"], ["c"], name="conv"), *pair("c", "out"),
             helper.make_node("Sigmoid", ["out_dq"], ["y"], name="sigmoid")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
         numpy_helper.from_array(np.array(128, np.uint8), "z"),
         numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(1, 1, 4, 4)
    assert drop_dead_end_qdq(model) == ["out_quantize"]
    assert [n.name for n in model.graph.node] == ["in_quantize", "in_dequantize", "conv", "sigmoid"]
    fake_input = np.clip(np.round(x / 0.05) + 128, 0, 255) - 128
    np.testing.assert_allclose(run_batches(model, [x])["y"], 1 / (1 + np.exp(-fake_input * 0.05)), atol=1e-6)
