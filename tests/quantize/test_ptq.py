"""INT8 PTQ of a tiny conv/BN/residual model through the stage: Q/DQ ONNX per scheme, parity with the torch
fake-quantized model, int8 weights stored and convs fused for ONNX Runtime, TensorRT rules for TensorRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgecv.artifacts import StageResult
from edgecv.evaluation import evaluate_torch
from edgecv.export.onnx import export_onnx
from edgecv.export.tensorrt_rules import check_onnx_for_tensorrt
from edgecv.quantize.cpu_isa import int8_saturates
from edgecv.quantize.onnx_export import weight_storage
from edgecv.quantize.onnx_graph import ort_fusion
from edgecv.quantize.schemes import ORT_CPU
from edgecv.runtime import OrtRunner
from edgecv.validate.accuracy import evaluate_runner
from tests.quantize.conftest import Tiny

DEVICES = ("host-cpu", "jetson-orin-nano-8gb", "jetson-xavier-nx")  # ORT CPU; TensorRT 10.3 and 8.5


@pytest.fixture(scope="module")
def ptq(tiny: Tiny) -> StageResult:
    return tiny.run("ptq", devices=DEVICES)


def by_scheme(result: StageResult) -> dict[str, dict]:
    return {s["scheme"]: s for s in result.metrics["schemes"]}


def test_one_qdq_artifact_per_scheme_with_the_devices_it_serves(ptq: StageResult) -> None:
    assert [(a.name, a.precision, a.targets) for a in ptq.outputs] == [
        ("int8-ort-cpu", "int8", ["host-cpu"]),
        ("int8-tensorrt", "int8", ["jetson-orin-nano-8gb", "jetson-xavier-nx"]),
    ]
    for artifact in ptq.outputs:
        ops = [n.op_type for n in onnx.load(artifact.path).graph.node]
        assert ops.count("DequantizeLinear") >= 7 and "QuantizeLinear" in ops
    for scheme in ptq.metrics["schemes"]:
        assert scheme["layers"] == {"quantized": 7, "total": 7, "float": []}
    assert ptq.metrics["batchnorm"]["folded"] == 6 and ptq.metrics["calibration_size"] > 0


def test_onnx_matches_the_fake_quantized_torch_model_and_keeps_the_accuracy(ptq: StageResult, tiny: Tiny) -> None:
    float_top1 = evaluate_torch(tiny.current.module, tiny.ctx.val_loader(), tiny.ctx.splits.labels)["top1"]
    for artifact, scheme in zip(ptq.outputs, ptq.metrics["schemes"], strict=True):
        parity = scheme["parity"]
        assert parity["passed"] and parity["samples"] == 100
        assert parity["min_cosine"] >= 0.99 and parity["top1_agreement"] >= 0.98
        assert "fake-quantized" in parity["reference"]
        with OrtRunner(artifact.path, threads=1) as runner:
            top1 = evaluate_runner(runner, tiny.ctx.val_loader(), tiny.ctx.splits.labels)["top1"]
        assert top1 >= float_top1 - 5.0, (artifact.name, top1, float_top1)


def test_cpu_scheme_stores_int8_weights_and_onnx_runtime_fuses_every_conv(ptq: StageResult, tiny: Tiny,
                                                                         tmp_path: Path) -> None:
    cpu = ptq.outputs[0]
    model = onnx.load(cpu.path)
    stored = by_scheme(ptq)["onnxruntime-cpu"]["weight_type"]  # uint8 on an x86 CPU without VNNI (cpu_isa)
    assert stored == ("uint8" if int8_saturates() else "int8")
    kind = onnx.TensorProto.UINT8 if stored == "uint8" else onnx.TensorProto.INT8
    int8 = [t for t in model.graph.initializer if t.data_type == kind and len(t.dims) > 1]
    float_weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) > 1]
    assert len(int8) == 7 and not float_weights
    fp32 = export_onnx(tiny.current.module, tiny.ctx.input_spec, tmp_path / "fp32.onnx", opset=17)
    assert cpu.size_bytes < 0.35 * fp32.stat().st_size
    fusion = ort_fusion(cpu.path)
    assert fusion["QLinearConv"] == fusion["convs"] == 6 and fusion["float_convs"] == 0
    assert fusion.get("QLinearAdd", 0) == 2 and fusion.get("QGemm") == 1  # residual Adds and the head run INT8
    assert by_scheme(ptq)["onnxruntime-cpu"]["ort_fusion"]["QLinearConv"] == 6
    x = np.random.default_rng(0).standard_normal((4, *tiny.ctx.input_spec.shape)).astype(np.float32)
    with OrtRunner(cpu.path, threads=1) as runner:
        assert np.isfinite(runner.infer(x)).all()


def test_tensorrt_scheme_passes_the_rules_and_cpu_scheme_fails_naming_rule_and_node(ptq: StageResult) -> None:
    cpu, trt = ptq.outputs
    for version in ("8.5", "10.3"):
        assert check_onnx_for_tensorrt(trt.path, version).ok
        result = check_onnx_for_tensorrt(cpu.path, version)
        assert not result.ok and result.errors[0].rule == "qdq-uint8"
        assert "[qdq-uint8]" in result.summary() and f"node '{result.errors[0].node}'" in result.summary()
    checks = by_scheme(ptq)["tensorrt"]["tensorrt_check"]
    assert {d: c["tensorrt"] for d, c in checks.items()} == {"jetson-orin-nano-8gb": "10.3",
                                                             "jetson-xavier-nx": "8.5.2"}
    assert all(c["ok"] for c in checks.values())
    zero_points = [t for t in onnx.load(trt.path).graph.initializer if t.data_type == onnx.TensorProto.UINT8]
    assert not zero_points


# ------------------------------------------------------------------ standard Q/DQ: shared (unified) quantizers


def test_quantizers_shared_by_concat_inputs_all_become_standard_qdq(tmp_path: Path) -> None:
    """A concat's inputs share one NNCF quantizer (unified scales) under several hook names; nncf.strip replaces it
    under the first only, and the others used to export as OpenVINO FakeQuantize custom ops."""
    import nncf
    import torch
    from nncf.torch.function_hook.wrapper import get_hook_storage
    from nncf.torch.quantization.layers import BaseQuantizer

    from edgecv.artifacts import InputSpec
    from edgecv.quantize.bn_fold import fold_batchnorm
    from edgecv.quantize.nncf_ptq import Calibration, quantize_ptq, strip_quantized
    from edgecv.quantize.onnx_export import write_qdq_onnx
    from edgecv.quantize.schemes import SCHEMES
    from edgecv.quantize.standard_ops import nonstandard_nodes
    from edgecv.stages.quantize import QuantizeParams
    from tests.families.user_models import UserNet

    torch.manual_seed(0)
    images = torch.randn(16, 3, 16, 16)
    folded, _ = fold_batchnorm(UserNet().eval())
    scheme = SCHEMES["onnxruntime-cpu"]
    quantized = quantize_ptq(folded, scheme, Calibration(nncf.Dataset([images]), 1, 16),
                             QuantizeParams(type="quantize"), [])
    hooks = [(n, m) for n, m in get_hook_storage(quantized).named_modules(remove_duplicate=False)
             if n.count(".") == 2 and isinstance(m, BaseQuantizer)]
    assert len(hooks) > len({id(m) for _, m in hooks})  # the concat's inputs share a quantizer
    stripped = strip_quantized(quantized, images[:1])
    left = [n for n, m in get_hook_storage(stripped).named_modules(remove_duplicate=False)
            if isinstance(m, BaseQuantizer)]
    assert left == []
    path = tmp_path / "user.onnx"
    stored = write_qdq_onnx(quantized, InputSpec(shape=(3, 16, 16), dynamic_batch=True), path, opset=17,
                            weights=weight_storage(ORT_CPU))
    assert stored >= 8  # every conv and the head store int8 weights
    graph = onnx.load(path)
    assert nonstandard_nodes(graph) == [] and {n.domain for n in graph.graph.node} <= {"", "ai.onnx"}
    with torch.no_grad():
        reference = stripped(images).numpy()
    with OrtRunner(path, threads=1) as runner:
        candidate = runner.infer(images.numpy())
    cosine = (reference * candidate).sum(1) / np.linalg.norm(reference, axis=1) / np.linalg.norm(candidate, axis=1)
    assert cosine.min() >= 0.98 and (reference.argmax(1) == candidate.argmax(1)).mean() >= 0.9


def test_a_custom_op_in_an_int8_onnx_is_one_line_naming_op_and_node() -> None:
    from onnx import TensorProto, helper

    from edgecv.errors import ValidationFailure
    from edgecv.quantize.standard_ops import require_standard_ops

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("FakeQuantize", ["r", "lo", "hi", "lo", "hi"], ["y"], name="/concat/fq_1",
                              domain="org.openvinotoolkit", levels=256)]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph(nodes, "g", [io[0]], [io[1]]))
    require_standard_ops(helper.make_model(helper.make_graph(nodes[:1], "g", [io[0]], [io[0]])), "ok.onnx")
    with pytest.raises(ValidationFailure) as error:
        require_standard_ops(model, "int8-ort-cpu.onnx")
    message = str(error.value)
    assert "\n" not in message and "int8-ort-cpu.onnx" in message
    assert "org.openvinotoolkit::FakeQuantize" in message and "'/concat/fq_1'" in message
