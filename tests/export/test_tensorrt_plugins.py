"""The static TensorRT check of plugin nodes: which TensorRT versions ship a plugin, and EfficientNMS_TRT's inputs."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from edgecv.devices import load_device
from edgecv.export.tensorrt_plugins import PLUGINS, plugin_problem, ships, version_key
from edgecv.export.tensorrt_rules import RULES, check_for_device, check_onnx_for_tensorrt

NMS_OUT = ["num_detections", "detection_boxes", "detection_scores", "detection_classes"]


def _plugin_model(
    op: str = "EfficientNMS_TRT",
    boxes: tuple[int, list[object]] = (TensorProto.FLOAT, ["N", 16, 4]),
    scores: tuple[int, list[object]] = (TensorProto.FLOAT, ["N", 16, 3]),
    domain: str = "TRT",
    opset: int = 17,
    **attributes: object,
) -> onnx.ModelProto:
    """boxes and scores (graph inputs, so their types are declared) into one plugin node with NMS's four outputs."""
    node = helper.make_node(op, ["boxes", "scores"], NMS_OUT, name="nms", domain=domain, **attributes)
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in NMS_OUT]
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("boxes", *boxes), helper.make_tensor_value_info("scores", *scores)],
        outputs,
    )
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def _problems(result: object) -> list[tuple[str, str, str]]:
    return [(p.rule, p.node, p.severity) for p in result.problems]  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["8.2", "8.5.2", "8.6", "10.3", "10.11"])
@pytest.mark.parametrize("domain", ["TRT", ""])
def test_efficient_nms_passes_where_shipped(version: str, domain: str) -> None:
    opset = 13 if version == "8.2" else 17  # the highest each parser reads
    model = _plugin_model(domain=domain, opset=opset, score_threshold=0.25, box_coding=0, max_output_boxes=100)
    result = check_onnx_for_tensorrt(model, version)
    assert result.ok and not result.problems, result.summary()


def test_device_profiles_with_tensorrt_8_5_and_10_accept_it() -> None:
    for device in ("jetson-xavier-nx", "jetson-agx-orin-64gb"):
        result = check_for_device(_plugin_model(), load_device(device))
        assert result.ok and result.checked_nodes == 1, (device, result.summary())


@pytest.mark.parametrize("domain", ["TRT", ""])
def test_an_unknown_plugin_is_an_error_naming_op_and_version(domain: str) -> None:
    result = check_onnx_for_tensorrt(_plugin_model("FooNMS_TRT", domain=domain), "10.3")
    assert not result.ok and _problems(result) == [("plugin", "nms", "error")]
    message = result.problems[0].message
    assert "'FooNMS_TRT' is not a plugin TensorRT 10.3 ships" in message and "Plugin not found" in message


def test_a_plugin_added_later_is_refused_for_the_older_version() -> None:
    model = _plugin_model("ROIAlign_TRT", domain="", opset=13)
    assert check_onnx_for_tensorrt(model, "8.5").ok
    result = check_for_device(model, load_device("jetson-nano-4gb"))
    assert not result.ok and _problems(result) == [("plugin", "nms", "error")]
    assert "first shipped in TensorRT 8.5" in result.problems[0].message
    assert "TensorRT 8.2 does not have it" in result.problems[0].message


def test_a_removed_plugin_is_refused_after_its_removal() -> None:
    model = _plugin_model("NMS_TRT")
    before, after = check_onnx_for_tensorrt(model, "10.3"), check_onnx_for_tensorrt(model, "11.0")
    assert before.ok and _problems(before) == [("plugin", "nms", "warning")]  # deprecated since 9.0
    assert not after.ok and _problems(after) == [("plugin", "nms", "error")]
    assert "removed in TensorRT 11.0" in after.problems[0].message and "TensorRT 11 does" in after.problems[0].message


def test_efficient_nms_availability_per_version() -> None:
    assert PLUGINS["EfficientNMS_TRT"].since == (8, 0) and ships("EfficientNMS_TRT", "8.0.1")
    severity, message = plugin_problem("EfficientNMS_TRT", "7.2.3")  # type: ignore[misc]
    assert severity == "error" and "first shipped in TensorRT 8.0" in message and "TensorRT 7.2.3" in message
    assert not ships("EfficientNMS_TRT", "7.2")
    assert plugin_problem("EfficientNMS_TRT", "10.3") is None
    assert plugin_problem("EfficientNMS_TRT", "10.12")[0] == "warning"  # type: ignore[index]
    assert ships("EfficientNMS_TRT", "11.0")
    assert version_key("10.3.0.30") == (10, 3) and version_key("11") == (11, 0)
    assert {"plugin", "plugin-inputs"} <= set(RULES)


@pytest.mark.parametrize(
    ("boxes", "scores", "words"),
    [
        ((TensorProto.INT32, ["N", 16, 4]), (TensorProto.FLOAT, ["N", 16, 3]), "not float32, int32"),
        ((TensorProto.FLOAT, ["N", 16, 4]), (TensorProto.FLOAT16, ["N", 16, 3]), "not float16, float32"),
        ((TensorProto.FLOAT, ["N", 16, 5]), (TensorProto.FLOAT, ["N", 16, 3]), "must end in 4, not 5"),
        ((TensorProto.FLOAT, ["N", 16, 4]), (TensorProto.FLOAT, ["N", 48]), "not rank 2"),
        ((TensorProto.FLOAT, ["N", 16, 4]), (TensorProto.FLOAT, ["N", 12, 3]), "boxes have 16 boxes but scores 12"),
        ((TensorProto.FLOAT, ["N", 64]), (TensorProto.FLOAT, ["N", 16, 3]), "not rank 2"),
    ],
)
def test_efficient_nms_inputs_it_cannot_take(boxes: tuple, scores: tuple, words: str) -> None:
    result = check_onnx_for_tensorrt(_plugin_model(boxes=boxes, scores=scores), "10.3")
    assert not result.ok and _problems(result) == [("plugin-inputs", "nms", "error")]
    assert words in result.problems[0].message, result.problems[0].message


def test_efficient_nms_inputs_it_takes_beyond_the_plain_form() -> None:
    per_class = _plugin_model(boxes=(TensorProto.FLOAT16, ["N", 16, 3, 4]), scores=(TensorProto.FLOAT16, [1, 16, 3]))
    assert check_onnx_for_tensorrt(per_class, "10.3").ok
    symbolic = _plugin_model(boxes=(TensorProto.FLOAT, ["N", "A", 4]), scores=(TensorProto.FLOAT, ["N", "B", 3]))
    assert check_onnx_for_tensorrt(symbolic, "8.5").ok  # not comparable statically: not flagged


def test_efficient_nms_attributes_out_of_range_are_flagged() -> None:
    result = check_onnx_for_tensorrt(_plugin_model(box_coding=2, max_output_boxes=0), "10.3")
    assert _problems(result) == [("plugin-inputs", "nms", "error")]
    assert "box_coding 2" in result.problems[0].message and "max_output_boxes 0" in result.problems[0].message


def test_inputs_without_declared_shapes_are_a_warning() -> None:
    model = _plugin_model()
    for value in model.graph.input:
        value.type.tensor_type.ClearField("shape")
    result = check_onnx_for_tensorrt(model, "10.3")
    assert result.ok and _problems(result) == [("plugin-inputs", "nms", "warning")]
    assert "['boxes', 'scores'] have no declared type and shape" in result.problems[0].message
