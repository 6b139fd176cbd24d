"""An INT8 artifact slower than the FP32 model it came from gets a note with the float ops, and is not recommended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing, StageResult
from edgecv.report.html import render_html
from edgecv.report.markdown import render_markdown
from edgecv.report.pareto import recommended
from edgecv.report.schema import Environment, Report
from edgecv.validate.int8_speed import add_int8_speed_notes, int8_speed_notes
from tests.report.helpers import latency, validation


def float_conv_qdq(path: Path) -> Path:
    """x -> Q -> DQ -> Conv (int8 weight behind a DequantizeLinear) with no Q after it: ONNX Runtime keeps it float."""
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s"),
        numpy_helper.from_array(np.array(128, np.uint8), "zp"),
        numpy_helper.from_array(np.ones((8, 4, 3, 3), np.int8), "w_q"),
        numpy_helper.from_array(np.full(8, 0.01, np.float32), "w_s"),
        numpy_helper.from_array(np.zeros(8, np.int8), "w_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="head_conv", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def artifact(name: str, path: Path, precision: str) -> ModelArtifact:
    return ModelArtifact(name=name, format="onnx", path=str(path), input=InputSpec(shape=(4, 8, 8)),
                         preprocessing=Preprocessing(size=(8, 8)), precision=precision, parent="pruned")


def pair(tmp_path: Path, int8_ms: tuple[float, float]) -> tuple[list, list[ModelArtifact]]:
    """FP32 (1 ms at batch 1, 10 ms at 32) and its INT8 child, both measured on host-cpu."""
    fp32 = validation("pruned-onnx", "host-cpu", 90.0, 90.0, 1.0, "measured")
    fp32.latency = [latency(1, 1.0, True), latency(32, 10.0, True)]
    int8 = validation("int8-ort-cpu", "host-cpu", 89.8, 90.0, int8_ms[0], "measured", precision="int8")
    int8.latency = [latency(1, int8_ms[0], True), latency(32, int8_ms[1], True)]
    artifacts = [artifact("pruned-onnx", tmp_path / "fp32.onnx", "fp32"),
                 artifact("int8-ort-cpu", float_conv_qdq(tmp_path / "int8.onnx"), "int8")]
    return [fp32, int8], artifacts


def report_with(validations: list, result: StageResult) -> Report:
    env = Environment(python="3.11", platform="linux", machine="x86_64", cpu_count=2, libraries={})
    return Report(edgecv_version="0", name="t", run_dir="r", status="complete", created="now", recipe_hash="0" * 64,
                  recipe={}, environment=env, stages=[result], validations=validations)


def test_slower_int8_gets_a_note_with_the_float_ops_and_fp32_is_recommended(tmp_path: Path) -> None:
    validations, artifacts = pair(tmp_path, (1.5, 8.0))  # slower at batch 1, faster at 32
    (note,) = int8_speed_notes(validations, artifacts)
    assert (note.artifact, note.reference, note.not_faster) == ("int8-ort-cpu", "pruned-onnx", [1])
    assert note.speedup == {"1": round(1.0 / 1.5, 3), "32": 1.25}
    assert (note.convs, note.float_convs) == (1, 1)  # read from ONNX Runtime's optimized graph
    assert "1 of 1 convs stayed float" in note.cause and "head_conv" in note.cause
    result = StageResult(stage="05-validate", kind="validate", metrics={"validations": []})
    add_int8_speed_notes(result, validations, artifacts)
    assert result.metrics["int8_not_faster"][0]["reference"] == "pruned-onnx"
    assert result.warnings == [note.text]
    report = report_with(validations, result)
    assert recommended(report) == {"host-cpu": {1: "pruned-onnx", 32: "int8-ort-cpu"}}  # the faster one per batch
    text = render_markdown(report)
    assert "host-cpu: pruned-onnx at batch 1, int8-ort-cpu at batch 32" in text
    assert "### INT8 not faster than FP32" in text and "batch 1 (0.67x: 1.500 vs 1.000 ms)" in text
    page = render_html(report)
    assert "recommended: pruned-onnx at batch 1, int8-ort-cpu at batch 32" in page and "INT8 not faster:" in page


def test_faster_int8_gets_no_note_and_is_recommended(tmp_path: Path) -> None:
    validations, artifacts = pair(tmp_path, (0.5, 4.0))
    assert int8_speed_notes(validations, artifacts) == []
    result = StageResult(stage="05-validate", kind="validate")
    add_int8_speed_notes(result, validations, artifacts)
    assert result.metrics["int8_not_faster"] == [] and result.warnings == []
    assert recommended(report_with(validations, result)) == {"host-cpu": {1: "int8-ort-cpu", 32: "int8-ort-cpu"}}


def int8_conv_qdq(path: Path, weights: type) -> Path:
    """Q -> DQ -> Conv -> Q -> DQ with ``weights`` (np.int8, or np.uint8 at zero point 128): one QLinearConv."""
    zero = 128 if weights is np.uint8 else 0
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s"),
        numpy_helper.from_array(np.array(128, np.uint8), "zp"),
        numpy_helper.from_array(np.full((8, 4, 3, 3), zero + 1, weights), "w_q"),
        numpy_helper.from_array(np.full(8, 0.01, np.float32), "w_s"),
        numpy_helper.from_array(np.full(8, zero, weights), "w_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "s", "zp"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "s", "zp"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_uint8_weights_are_named_as_the_cause_with_the_setting_that_runs_faster_kernels(tmp_path: Path) -> None:
    validations, artifacts = pair(tmp_path, (1.5, 12.0))
    artifacts[1] = artifact("int8-ort-cpu", int8_conv_qdq(tmp_path / "u8.onnx", np.uint8), "int8")
    (note,) = int8_speed_notes(validations, artifacts)
    assert "all 1 convs ran as QLinearConv" in note.cause
    assert "1 of its 1 int8 convs have uint8 weights" in note.cause and "weight_type: int8" in note.cause
    assert "not faster for layers this small" not in note.cause  # the lever is named instead of the kernels blamed
    artifacts[1] = artifact("int8-ort-cpu", int8_conv_qdq(tmp_path / "s8.onnx", np.int8), "int8")
    (note,) = int8_speed_notes(validations, artifacts)
    assert "uint8 weights" not in note.cause and "not faster for layers this small" in note.cause
