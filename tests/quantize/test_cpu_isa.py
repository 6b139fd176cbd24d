"""uint8 or half-range int8 weights where ONNX Runtime's int8 kernels saturate, and TensorRT-form graphs run in
float."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecv.quantize.cpu_isa import int8_saturates, int8_weight_format
from edgecv.quantize.int8_weights import weights_as_uint8
from edgecv.quantize.nncf_ptq import nncf_arguments, weight_range, weight_type
from edgecv.quantize.schemes import ORT_CPU, TENSORRT
from edgecv.runtime.ort import OrtRunner, tensorrt_qdq_form
from edgecv.stages.quantize import QuantizeParams

AVX2 = frozenset({"sse4_2", "avx2", "fma"})


@pytest.mark.parametrize(("machine", "flags", "saturates"), [
    ("x86_64", AVX2, True),
    ("x86_64", AVX2 | {"avx512f", "avx512_vnni"}, False),
    ("x86_64", AVX2 | {"avx_vnni"}, False),
    ("aarch64", frozenset({"asimd", "asimddp"}), False),
    ("x86_64", frozenset(), False),  # unreadable cpuinfo: no claim
])
def test_only_x86_without_vnni_saturates(machine: str, flags: frozenset[str], saturates: bool) -> None:
    assert int8_saturates(machine, flags) is saturates


def test_auto_stores_uint8_weights_only_for_the_onnx_runtime_cpu_scheme_and_only_where_int8_saturates() -> None:
    saturates = int8_saturates()
    assert int8_weight_format("auto", "auto", "onnxruntime-cpu") == ("uint8" if saturates else "int8", "full")
    assert int8_weight_format("int8", "auto", "onnxruntime-cpu") == ("int8", "half" if saturates else "full")
    assert int8_weight_format("auto", "auto", "tensorrt") == ("int8", "full")  # TensorRT sums in int32
    assert int8_weight_format("uint8", "auto", "tensorrt") == ("int8", "full")  # TensorRT needs int8 weights
    assert int8_weight_format("auto", "half", "tensorrt") == ("int8", "half")
    assert int8_weight_format("uint8", "full", "onnxruntime-cpu") == ("uint8", "full")
    assert weight_type(ORT_CPU, QuantizeParams(type="quantize", weight_type="int8")) == "int8"
    assert weight_type(TENSORRT, QuantizeParams(type="quantize")) == "int8"


def _saturating_conv() -> onnx.ModelProto:
    """uint8 input -> DQ -> Conv (int8 weights, per channel) -> Q: ONNX Runtime runs it as one QLinearConv. With
    inputs at 255 and weights at 127, two adjacent products (64,770) overflow an int16."""
    rng = np.random.default_rng(0)
    weight = rng.integers(100, 128, (4, 64, 3, 3)).astype(np.int8) * np.where(rng.random((4, 1, 1, 1)) < 0.5, 1, -1)
    def constant(value: Any, name: str, dtype: Any) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    inits = [constant(0.01, "xs", np.float32), constant(0, "xz", np.uint8), constant(weight, "w", np.int8),
             constant(np.full(4, 0.01), "ws", np.float32), constant(np.zeros(4), "wz", np.int8),
             constant(8.0, "ys", np.float32), constant(128, "yz", np.uint8)]
    nodes = [helper.make_node("QuantizeLinear", ["xf", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["x"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0),
             helper.make_node("Conv", ["x", "wf"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("xf", TensorProto.FLOAT, [1, 64, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_uint8_weights_give_the_exact_int8_result_where_u8s8_kernels_saturate(tmp_path: Path) -> None:
    from edgecv.quantize.onnx_graph import ort_fusion

    int8 = _saturating_conv()
    weights = numpy_helper.to_array(next(t for t in int8.graph.initializer if t.name == "w")).astype(np.float64)
    converted = _saturating_conv()
    assert weights_as_uint8(converted) == 1
    stored = {t.name: numpy_helper.to_array(t) for t in converted.graph.initializer}
    assert stored["w"].dtype == np.uint8 and np.array_equal(stored["w"].astype(np.int16) - 128, weights)
    assert stored["xz"].dtype == np.uint8 and stored["xz"] == 0  # the activation's zero point is left alone
    onnx.save(converted, str(tmp_path / "uint8.onnx"))
    fusion = ort_fusion(tmp_path / "uint8.onnx")
    assert fusion.get("QLinearConv") == 1  # still one int8 kernel, not a float conv
    assert fusion["uint8_weight_convs"] == 1  # and ONNX Runtime runs it with its uint8 weights (u8u8 kernels)
    onnx.save(int8, str(tmp_path / "int8.onnx"))
    assert ort_fusion(tmp_path / "int8.onnx")["uint8_weight_convs"] == 0
    x = np.full((1, 64, 5, 5), 255.0, np.float32)
    x[0, :, ::2, ::2] = np.random.default_rng(1).integers(200, 256, (64, 3, 3))  # quantized input levels
    exact = np.zeros((1, 4, 3, 3))
    for i in range(3):
        for j in range(3):
            exact[0, :, i, j] = np.tensordot(weights * 0.01, x[0, :, i:i + 3, j:j + 3] * 0.01, axes=3)
    exact = (np.clip(np.rint(exact / 8.0) + 128, 0, 255) - 128) * 8.0
    with OrtRunner(converted, threads=1) as runner:
        np.testing.assert_allclose(runner.infer(x * np.float32(0.01)), exact, atol=8.0 + 1e-6)  # one step: rounding
    if int8_saturates():  # the int8 file on this CPU: u8s8 sums saturate, the values come out far off
        with OrtRunner(int8, threads=1) as runner:
            assert np.abs(runner.infer(x * np.float32(0.01)) - exact).max() > 8.0


def test_half_range_reaches_nncf_as_the_overflow_fix_for_every_layer() -> None:
    from nncf.quantization.advanced_parameters import OverflowFix

    half = nncf_arguments(ORT_CPU, QuantizeParams(type="quantize", weight_range="half"), [])
    full = nncf_arguments(ORT_CPU, QuantizeParams(type="quantize", weight_range="full"), [])
    assert half["advanced_parameters"].overflow_fix == OverflowFix.ENABLE
    assert full["advanced_parameters"].overflow_fix == OverflowFix.DISABLE  # not NNCF's default (first layer)
    assert weight_range(TENSORRT, QuantizeParams(type="quantize")) == "full"


def _weight_levels(model: onnx.ModelProto) -> list[int]:
    """Each conv's largest |quantized weight level|, in graph order, whichever form stores its weights."""
    from edgecv.quantize.int8_weights import quantize_array

    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    levels = []
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        dequantize = producer[conv.input[1]]
        scale, zero = inits[dequantize.input[1]], inits[dequantize.input[2]]
        stored = inits.get(dequantize.input[0])
        if stored is None:  # TensorRT's form: float weights behind QuantizeLinear
            quantize = producer[dequantize.input[0]]
            stored = quantize_array(inits[quantize.input[0]], scale, zero, 0)
        levels.append(int(np.abs(stored.astype(np.int32) - zero.astype(np.int32).reshape(-1, 1, 1, 1)).max()))
    return levels


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("scheme", "weights"), [("onnxruntime-cpu", "uint8"), ("onnxruntime-cpu", "int8"),
                                                 ("tensorrt", "auto")])
def test_full_range_weights_give_the_first_conv_all_8_bits_too(tmp_path: Path, scheme: str, weights: str) -> None:
    """NNCF's default overflow fix halves the first conv's weights (7 bits) even where nothing saturates."""
    import nncf
    import torch

    from edgecv.artifacts import InputSpec
    from edgecv.quantize.nncf_ptq import Calibration
    from edgecv.quantize.onnx_export import quantize_to_onnx

    class TwoConvs(torch.nn.Module):  # not an nn.Sequential: NNCF adds its hook storage as a child module
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.second(torch.relu(self.first(x))))

    torch.manual_seed(0)
    model = TwoConvs()
    batches = [torch.randn(8, 3, 12, 12) for _ in range(2)]
    params = QuantizeParams(type="quantize", weight_type=weights, weight_range="full")
    path = tmp_path / "int8.onnx"
    quantize_to_onnx(model, InputSpec(shape=(3, 12, 12)), Calibration(nncf.Dataset(batches), 2, 16), scheme, path,
                     params=params)
    assert _weight_levels(onnx.load(str(path))) == [127, 127]


def _fc(weights_in_graph: bool) -> onnx.ModelProto:
    """x -> Q/DQ -> MatMul with weights either quantized in the graph (TensorRT's form) or stored as int8."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((16, 4)).astype(np.float32)
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xdq"])]
    if weights_in_graph:
        inits.append(numpy_helper.from_array(weight, "w"))
        nodes.append(helper.make_node("QuantizeLinear", ["w", "s", "z"], ["wq"]))
    else:
        inits.append(numpy_helper.from_array(np.clip(np.round(weight / 0.05), -127, 127).astype(np.int8), "wq"))
    nodes += [helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["wdq"]),
              helper.make_node("MatMul", ["xdq", "wdq"], ["y"])]
    graph = helper.make_graph(nodes, "fc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_tensorrt_form_graph_runs_op_by_op_and_gives_its_fake_quantized_values() -> None:
    trt, cpu = _fc(weights_in_graph=True), _fc(weights_in_graph=False)
    assert tensorrt_qdq_form(trt) and not tensorrt_qdq_form(cpu)
    x = np.random.default_rng(1).uniform(-6, 6, (1, 16)).astype(np.float32)
    with OrtRunner(trt, threads=1) as runner:
        assert runner.session.get_session_options().graph_optimization_level.name == "ORT_DISABLE_ALL"
        y = runner.infer(x)
    with OrtRunner(cpu, threads=1) as runner:
        assert runner.session.get_session_options().graph_optimization_level.name == "ORT_ENABLE_ALL"
    xq = np.clip(np.round(x / 0.05), -128, 127) * 0.05
    wq = np.clip(np.round(np.random.default_rng(0).standard_normal((16, 4)) / 0.05), -128, 127) * 0.05
    np.testing.assert_allclose(y, xq @ wq, rtol=1e-5, atol=1e-5)
