"""Half-range int8 weights where ONNX Runtime's int8 kernels saturate, and TensorRT-form graphs run in float."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecv.quantize.cpu_isa import half_range_weights, int8_saturates
from edgecv.quantize.nncf_ptq import nncf_arguments, weight_range
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


def test_auto_halves_only_the_onnx_runtime_cpu_scheme_and_only_where_it_saturates() -> None:
    assert half_range_weights("auto", "onnxruntime-cpu") is int8_saturates()
    assert half_range_weights("auto", "tensorrt") is False  # TensorRT sums in int32
    assert half_range_weights("half", "tensorrt") and not half_range_weights("full", "onnxruntime-cpu")


def test_half_range_reaches_nncf_as_the_overflow_fix_for_every_layer() -> None:
    from nncf.quantization.advanced_parameters import OverflowFix

    half = nncf_arguments(ORT_CPU, QuantizeParams(type="quantize", weight_range="half"), [])
    full = nncf_arguments(ORT_CPU, QuantizeParams(type="quantize", weight_range="full"), [])
    assert half["advanced_parameters"].overflow_fix == OverflowFix.ENABLE
    assert full["advanced_parameters"].overflow_fix is None  # NNCF's default: the first layer only
    assert weight_range(TENSORRT, QuantizeParams(type="quantize")) == "full"


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
