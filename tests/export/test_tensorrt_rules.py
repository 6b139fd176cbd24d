"""Tests for the static TensorRT checker: small ONNX graphs built with onnx.helper, one per rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecv.devices import DeviceProfile, Software
from edgecv.errors import ModelError, UnsupportedError
from edgecv.export.tensorrt_ops import OPS_8_5, OPS_8_6, OPS_10_15, parser_spec
from edgecv.export.tensorrt_rules import (
    RULES,
    CheckResult,
    check_for_device,
    check_onnx_for_tensorrt,
    resolve_tensorrt,
)

C_IN, C_OUT = 3, 4


def _init(name: str, values: object, dtype: object = np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _model(
    nodes: list[onnx.NodeProto],
    initializers: list[TensorProto],
    *,
    opset: int = 17,
    inputs: list[onnx.ValueInfoProto] | None = None,
    output: str = "Y",
    out_shape: list[int] | None = None,
    extra_opsets: dict[str, int] | None = None,
    functions: list[onnx.FunctionProto] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        inputs or [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, C_IN, 8, 8])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape or [1, C_OUT, 8, 8])],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(domain, version) for domain, version in (extra_opsets or {}).items()]
    return helper.make_model(graph, opset_imports=opsets, functions=functions or [], ir_version=8)


def _weights() -> list[TensorProto]:
    rng = np.random.default_rng(0)
    return [
        _init("W", rng.standard_normal((C_OUT, C_IN, 3, 3))),
        _init("B", rng.standard_normal(C_OUT)),
    ]


@pytest.fixture
def conv_model() -> onnx.ModelProto:
    """A clean FP32 Conv + Relu."""
    nodes = [
        helper.make_node("Conv", ["X", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["Y"], name="relu"),
    ]
    model = _model(nodes, _weights())
    onnx.checker.check_model(model, full_check=True)
    return model


def _qdq_conv(
    *,
    act_zp: object = 0,
    act_zp_dtype: object = np.int8,
    act_scale: object = 0.02,
    act_axis: int | None = None,
    weight_axis: int = 0,
    int32_bias: bool = False,
    opset: int = 17,
    weight_scale: object = None,
) -> onnx.ModelProto:
    """The TensorRT scheme: int8, zero point 0, per-tensor activation scale, per-channel weight scale on
    axis 0, float bias. The keywords break one property at a time."""
    n_w_scales = C_OUT if weight_axis == 0 else C_IN
    w_scale = np.full(n_w_scales, 0.01) if weight_scale is None else weight_scale
    inits = [
        *_weights(),
        _init("x_scale", act_scale),
        _init("x_zp", np.full(np.shape(act_scale), act_zp) if np.ndim(act_scale) else act_zp, act_zp_dtype),
        _init("w_scale", w_scale),
        _init("w_zp", np.zeros(np.shape(w_scale)), np.int8),
    ]
    act_kwargs = {} if act_axis is None else {"axis": act_axis}
    nodes = [
        helper.make_node("QuantizeLinear", ["X", "x_scale", "x_zp"], ["xq"], name="x_q", **act_kwargs),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xdq"], name="x_dq", **act_kwargs),
        helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zp"], ["wq"], name="w_q", axis=weight_axis),
        helper.make_node(
            "DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wdq"], name="w_dq", axis=weight_axis
        ),
    ]
    bias = "B"
    if int32_bias:
        inits += [_init("B_q", np.arange(C_OUT), np.int32), _init("b_scale", np.full(C_OUT, 0.0002))]
        nodes.append(helper.make_node("DequantizeLinear", ["B_q", "b_scale"], ["bdq"], name="b_dq", axis=0))
        bias = "bdq"
    nodes += [
        helper.make_node("Conv", ["xdq", "wdq", bias], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["Y"], name="relu"),
    ]
    return _model(nodes, inits, opset=opset)


def _rules(result: CheckResult) -> set[tuple[str, str]]:
    return {(p.rule, p.node) for p in result.problems}


# --- clean models -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["8.5", "8.5.2", "10.3", "10.3.0.30", "11.0"])
def test_clean_fp32_conv_passes(conv_model: onnx.ModelProto, version: str) -> None:
    result = check_onnx_for_tensorrt(conv_model, version)
    assert result.ok, result.summary()
    assert result.problems == []
    assert result.opset == 17
    assert result.checked_nodes == 2
    assert result.tensorrt == version
    assert result.summary().startswith(f"passes TensorRT {version}")


@pytest.mark.parametrize("version", ["8.5", "8.6", "10.3"])
def test_tensorrt_scheme_qdq_conv_passes(version: str) -> None:
    model = _qdq_conv()
    onnx.checker.check_model(model, full_check=True)
    result = check_onnx_for_tensorrt(model, version)
    assert result.ok, result.summary()
    assert result.problems == []
    assert result.checked_nodes == 6


def test_model_path_is_accepted(conv_model: onnx.ModelProto, tmp_path: Path) -> None:
    path = tmp_path / "conv.onnx"
    onnx.save(conv_model, path)
    assert check_onnx_for_tensorrt(path, "8.5").ok
    assert check_onnx_for_tensorrt(str(path), "10.3").ok
    with pytest.raises(ModelError, match="does not exist"):
        check_onnx_for_tensorrt(tmp_path / "missing.onnx", "8.5")


# --- Q/DQ rules -------------------------------------------------------------------------------------------


def test_uint8_activation_is_flagged_with_rule_and_node() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(act_zp=128, act_zp_dtype=np.uint8), "8.5")
    assert not result.ok
    assert ("qdq-uint8", "x_q") in _rules(result)
    assert ("qdq-uint8", "x_dq") in _rules(result)
    assert ("qdq-zero-point", "x_q") in _rules(result)
    assert not any(p.node.startswith("w_") for p in result.problems)  # the int8 weights are fine
    first = result.problems[0]
    assert (first.rule, first.node, first.op_type) == ("qdq-uint8", "x_q", "QuantizeLinear")
    assert "int8" in first.message and "symmetric" in first.message
    summary = result.summary()
    assert "\n" not in summary
    assert summary.startswith("4 problems for TensorRT 8.5: first [qdq-uint8] node 'x_q'")


def test_uint8_with_zero_zero_point_is_still_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(act_zp=0, act_zp_dtype=np.uint8), "10.3")
    assert ("qdq-uint8", "x_q") in _rules(result)
    assert not any(p.rule == "qdq-zero-point" for p in result.problems)


def test_nonzero_int8_zero_point_is_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(act_zp=3), "10.3")
    assert _rules(result) == {("qdq-zero-point", "x_q"), ("qdq-zero-point", "x_dq")}
    assert "[3]" in result.problems[0].message


def test_per_channel_activation_scale_is_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(act_scale=[0.02, 0.03, 0.04], act_axis=1), "10.3")
    assert not result.ok
    assert ("qdq-per-channel-activation", "x_q") in _rules(result)
    # the DQ of the activation is not reported twice, and weights' per-channel scales are fine
    assert [p.node for p in result.problems if p.rule == "qdq-per-channel-activation"] == ["x_q"]
    assert "per-tensor" in result.problems[0].message


def test_int32_bias_dequantize_is_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(int32_bias=True), "8.5")
    assert not result.ok
    assert _rules(result) == {("qdq-bias-int32", "b_dq")}
    problem = result.problems[0]
    assert problem.op_type == "DequantizeLinear"
    assert "float32" in problem.message


def test_weight_axis_not_output_channel_is_a_warning() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(weight_axis=1), "10.3")
    assert result.ok  # warn-level
    assert _rules(result) == {("qdq-weight-per-channel-axis", "w_dq"), ("qdq-weight-per-channel-axis", "w_q")}
    assert all(p.severity == "warning" for p in result.problems)
    assert "axis=0" in result.problems[0].message
    assert "1 warning" in result.summary() or "2 warnings" in result.summary()


def test_conv_transpose_weights_want_axis_1() -> None:
    rng = np.random.default_rng(1)
    inits = [
        # ConvTranspose weights are (C_in, C_out, kH, kW)
        _init("W", rng.standard_normal((C_IN, C_OUT, 2, 2))),
        _init("w_scale", np.full(C_OUT, 0.01)),
        _init("w_zp", np.zeros(C_OUT), np.int8),
    ]

    def model(axis: int) -> onnx.ModelProto:
        nodes = [
            helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zp"], ["wq"], name="w_q", axis=axis),
            helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zp"], ["wdq"], name="w_dq", axis=axis),
            helper.make_node("ConvTranspose", ["X", "wdq"], ["Y"], name="deconv", strides=[2, 2]),
        ]
        return _model(nodes, inits)

    assert check_onnx_for_tensorrt(model(1), "8.5").problems == []
    assert check_onnx_for_tensorrt(model(-3), "8.5").problems == []  # -3 of rank 4 is axis 1
    wrong = check_onnx_for_tensorrt(model(0), "8.5")
    assert ("qdq-weight-per-channel-axis", "w_dq") in _rules(wrong)


def test_bad_scales_are_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(weight_scale=np.array([0.01, 0.0, -0.5, np.inf])), "10.3")
    assert ("qdq-scale", "w_q") in _rules(result)
    assert "3 non-finite or non-positive" in result.problems[0].message


def test_per_channel_qdq_below_opset_13_is_flagged() -> None:
    result = check_onnx_for_tensorrt(_qdq_conv(opset=12), "8.5")
    assert ("opset", "w_q") in _rules(result)
    assert ("opset", "x_q") not in _rules(result)  # per-tensor Q/DQ is fine at opset 10-12


def test_fp8_qdq_only_where_supported() -> None:
    model = _qdq_conv()
    fp8_zp = helper.make_tensor("x_zp", TensorProto.FLOAT8E4M3FN, [], [0.0])
    model.graph.initializer[[t.name for t in model.graph.initializer].index("x_zp")].CopyFrom(fp8_zp)
    model.opset_import[0].version = 19
    old = check_onnx_for_tensorrt(model, "8.6", max_opset=19)
    assert _rules(old) == {("qdq-dtype", "x_q"), ("qdq-dtype", "x_dq")}
    assert "FP8 (E4M3FN)" in old.problems[0].message and "9.0 and later" in old.problems[0].message
    assert check_onnx_for_tensorrt(model, "10.3").ok


# --- opset ------------------------------------------------------------------------------------------------


def test_opset_18_is_flagged_for_8_5_but_not_10_3(conv_model: onnx.ModelProto) -> None:
    conv_model.opset_import[0].version = 18
    old = check_onnx_for_tensorrt(conv_model, "8.5.2")
    assert not old.ok
    assert _rules(old) == {("opset", "(model)")}
    assert "opset_version=17" in old.problems[0].message
    assert old.opset == 18
    new = check_onnx_for_tensorrt(conv_model, "10.3")
    assert new.ok, new.summary()


def test_max_opset_overrides_the_table(conv_model: onnx.ModelProto) -> None:
    assert not check_onnx_for_tensorrt(conv_model, "10.3", max_opset=16).ok
    assert check_onnx_for_tensorrt(conv_model, "8.5", max_opset=17).ok


def test_opset_below_parser_minimum_is_flagged(conv_model: onnx.ModelProto) -> None:
    conv_model.opset_import[0].version = 6
    result = check_onnx_for_tensorrt(conv_model, "8.5")
    assert ("opset", "(model)") in _rules(result)
    assert "below 7" in result.problems[0].message


# --- unsupported ops --------------------------------------------------------------------------------------


def _layernorm_model() -> onnx.ModelProto:
    nodes = [helper.make_node("LayerNormalization", ["X", "gamma", "beta"], ["Y"], name="ln", axis=-1)]
    model = _model(nodes, [_init("gamma", np.ones(8)), _init("beta", np.zeros(8))], out_shape=[1, C_IN, 8, 8])
    onnx.checker.check_model(model, full_check=True)
    return model


def test_op_added_later_is_flagged_for_old_version_only() -> None:
    # onnx-tensorrt's 8.5 operators.md marks LayerNormalization N; the 8.6 EA changelog adds it.
    assert "LayerNormalization" not in OPS_8_5 and "LayerNormalization" in OPS_8_6
    model = _layernorm_model()
    old = check_onnx_for_tensorrt(model, "8.5")
    assert _rules(old) == {("unsupported-op", "ln")}
    assert old.problems[0].op_type == "LayerNormalization"
    assert "8.6 and later" in old.problems[0].message
    assert check_onnx_for_tensorrt(model, "8.6").ok
    assert check_onnx_for_tensorrt(model, "10.3").ok


def test_op_added_in_10_x_minor() -> None:
    # The 10.4 changelog entry adds the *Window ops.
    nodes = [helper.make_node("HannWindow", ["n"], ["Y"], name="window")]
    model = _model(nodes, [_init("n", 16, np.int64)], opset=17)
    assert ("unsupported-op", "window") in _rules(check_onnx_for_tensorrt(model, "10.3"))
    assert check_onnx_for_tensorrt(model, "10.4").ok


def test_com_microsoft_qlinearconv_is_flagged() -> None:
    node = helper.make_node(
        "QLinearConv",
        ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz"],
        ["Y"],
        name="qconv",
        domain="com.microsoft",
    )
    model = _model([node], [], extra_opsets={"com.microsoft": 1})
    for version in ("8.5", "10.3"):
        result = check_onnx_for_tensorrt(model, version)
        assert not result.ok
        assert _rules(result) == {("unsupported-op", "qconv")}
        assert "QDQ" in result.problems[0].message


def test_standard_qlinearconv_and_fused_conv_are_flagged() -> None:
    nodes = [
        helper.make_node("QLinearConv", ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz"], ["q"], name="qlc"),
        helper.make_node("FusedConv", ["q", "W"], ["Y"], name="fused", domain="com.microsoft"),
    ]
    result = check_onnx_for_tensorrt(_model(nodes, [], extra_opsets={"com.microsoft": 1}), "10.3")
    assert _rules(result) == {("unsupported-op", "qlc"), ("unsupported-op", "fused")}


def test_tensorrt_plugin_ops_are_checked() -> None:
    """A plugin the version ships passes; its inputs are checked too (tests/export/test_tensorrt_plugins.py)."""
    node = helper.make_node("LReLU_TRT", ["X"], ["Y"], name="lrelu", domain="")
    assert check_onnx_for_tensorrt(_model([node], []), "8.5").ok
    node = helper.make_node("EfficientNMS_TRT", ["X"], ["Y"], name="nms", domain="")
    assert _rules(check_onnx_for_tensorrt(_model([node], []), "8.5")) == {("plugin-inputs", "nms")}


def test_if_subgraph_nodes_are_checked() -> None:
    then_graph = helper.make_graph(
        [helper.make_node("Unique", ["X"], ["u"], name="inner_unique")],
        "then",
        [],
        [helper.make_tensor_value_info("u", TensorProto.FLOAT, [4])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["e"], name="inner_identity")],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])],
    )
    if_node = helper.make_node(
        "If", ["cond"], ["Y"], name="branch", then_branch=then_graph, else_branch=else_graph
    )
    inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, [4]),
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
    ]
    model = _model([if_node], [], inputs=inputs, out_shape=[4])
    onnx.checker.check_model(model)
    result = check_onnx_for_tensorrt(model, "10.3")
    assert result.checked_nodes == 3
    assert _rules(result) == {("unsupported-op", "inner_unique")}


def test_unnamed_subgraph_nodes_get_a_path_label() -> None:
    body = helper.make_graph(
        [helper.make_node("Unique", ["X"], ["u"])],
        "then",
        [],
        [helper.make_tensor_value_info("u", TensorProto.FLOAT, None)],
    )
    if_node = helper.make_node("If", ["cond"], ["Y"], name="branch", then_branch=body, else_branch=body)
    inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, [4]),
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
    ]
    result = check_onnx_for_tensorrt(_model([if_node], [], inputs=inputs), "8.5")
    assert {p.node for p in result.problems} == {"branch/then_branch/Unique#0", "branch/else_branch/Unique#0"}


def test_local_functions_need_9_0_and_their_bodies_are_checked() -> None:
    def function(op: str) -> onnx.FunctionProto:
        return helper.make_function(
            "custom",
            "Block",
            ["x"],
            ["y"],
            [helper.make_node(op, ["x"], ["y"], name="body_op")],
            [helper.make_opsetid("", 17)],
        )

    node = helper.make_node("Block", ["X"], ["Y"], name="block", domain="custom")
    relu_model = _model([node], [], extra_opsets={"custom": 1}, functions=[function("Relu")])
    old = check_onnx_for_tensorrt(relu_model, "8.5")
    assert _rules(old) == {("unsupported-op", "block")}
    assert "inline_local_functions" in old.problems[0].message
    new = check_onnx_for_tensorrt(relu_model, "10.3")
    assert new.ok and new.checked_nodes == 2
    unique_model = _model([node], [], extra_opsets={"custom": 1}, functions=[function("Unique")])
    assert _rules(check_onnx_for_tensorrt(unique_model, "10.3")) == {("unsupported-op", "body_op")}


# --- devices and versions ---------------------------------------------------------------------------------


def _device(**overrides: object) -> DeviceProfile:
    fields: dict[str, object] = {
        "name": "test-orin",
        "display_name": "Test Orin",
        "kind": "jetson",
        "runtime": "tensorrt",
        "arch": "Ampere",
        "memory_gb": 8.0,
        "software": Software(jetpack="6.1", tensorrt="10.3", max_onnx_opset=17),
        "precisions": ["fp32", "fp16", "int8"],
        "quantization_scheme": "tensorrt",
    }
    fields.update(overrides)
    return DeviceProfile(**fields)


def test_check_for_device_uses_the_profile(conv_model: onnx.ModelProto) -> None:
    device = _device()
    assert check_for_device(conv_model, device).ok
    assert check_for_device(_qdq_conv(), device).ok
    conv_model.opset_import[0].version = 18  # 10.3 reads 18, but this profile caps the opset at 17
    result = check_for_device(conv_model, device)
    assert result.tensorrt == "10.3"
    assert _rules(result) == {("opset", "(model)")}
    assert "for this device" in result.problems[0].message


def test_check_for_device_without_max_opset_uses_the_table(conv_model: onnx.ModelProto) -> None:
    nano = _device(name="test-nano", software=Software(tensorrt="8.2.1"))  # max_onnx_opset left at default
    result = check_for_device(conv_model, nano)
    assert _rules(result) == {("opset", "(model)")}
    assert "above 13" in result.problems[0].message


def test_check_for_device_flags_int8_on_a_device_without_it() -> None:
    nano = _device(
        name="test-nano",
        arch="Maxwell",
        software=Software(tensorrt="8.2.1", max_onnx_opset=13),
        precisions=["fp32", "fp16"],
    )
    result = check_for_device(_qdq_conv(opset=13), nano)
    assert ("precision", "x_q") in _rules(result)
    assert "test-nano" in result.problems[0].message


def test_check_for_device_rejects_non_tensorrt_devices(conv_model: onnx.ModelProto) -> None:
    host = _device(name="host", kind="host-cpu", runtime="onnxruntime", software=Software())
    with pytest.raises(UnsupportedError, match="onnxruntime"):
        check_for_device(conv_model, host)


@pytest.mark.parametrize("version", ["9.2", "7.1.3", "12.0", "8.0", "latest", "10"])
def test_unknown_tensorrt_version_raises(conv_model: onnx.ModelProto, version: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        check_onnx_for_tensorrt(conv_model, version)
    assert "8.5" in str(info.value) and "10.0-10.15" in str(info.value)


def test_version_strings_resolve_to_tables() -> None:
    assert resolve_tensorrt("8.5").version == "8.5"
    assert resolve_tensorrt("8.5.2").version == "8.5"
    assert resolve_tensorrt("8.4.1").max_opset == 13
    assert resolve_tensorrt("10.3.0.30").version == "10.3"
    assert resolve_tensorrt("10.3.0.30").max_opset == 20
    assert resolve_tensorrt("10.20").version == "10.15"
    assert resolve_tensorrt("11.0").max_opset == 25
    assert "fp4" in resolve_tensorrt("10.8").quant_types and "fp4" not in resolve_tensorrt("10.7").quant_types


def test_op_tables_are_consistent() -> None:
    assert parser_spec(10, 0) is not None and parser_spec(10, 15) is not None
    ten_zero, ten_fifteen = parser_spec(10, 0).ops, parser_spec(10, 15).ops  # type: ignore[union-attr]
    assert ten_zero < ten_fifteen == OPS_10_15
    assert OPS_8_5 < OPS_8_6 < OPS_10_15  # each table only adds importers
    for ops in (OPS_8_5, OPS_10_15):
        assert {"Conv", "Relu", "QuantizeLinear", "DequantizeLinear", "If", "Loop"} <= ops
        assert not ops & {"QLinearConv", "ConvInteger", "Unique", "SequenceAt"}
    assert len(RULES) == len(set(RULES))


# --- a real export ----------------------------------------------------------------------------------------


def test_torch_conv_bn_relu_export_passes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()).eval()
    path = tmp_path / "conv_bn_relu.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 32, 32),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["output"],
    )
    for version in ("8.5", "10.3"):
        result = check_onnx_for_tensorrt(path, version)
        assert result.ok, result.summary()
        assert result.opset == 17
        assert result.checked_nodes >= 2


def _resize_model(opset: int = 17, **attributes: object) -> onnx.ModelProto:
    """x (1, 3, 8, 8) -> Resize to (1, 3, 16, 16) by scales, with ``attributes``."""
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="upsample", **attributes)
    graph = helper.make_graph(
        [node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 16, 16])],
        [_init("scales", [1.0, 1.0, 2.0, 2.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.mark.parametrize("version", ["8.5", "10.3"])
def test_resize_modes_torch_exports_pass(version: str) -> None:
    for attributes in ({"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
                       {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
                       {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}):
        result = check_onnx_for_tensorrt(_resize_model(**attributes), version)
        assert result.ok and not result.problems, (attributes, result.summary())


@pytest.mark.parametrize(("attributes", "words"), [
    ({"mode": "cubic"}, "mode 'cubic'"),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, "tf_crop_and_resize"),
])
def test_resize_attributes_the_parser_refuses(attributes: dict, words: str) -> None:
    for version in ("8.5", "10.3"):
        result = check_onnx_for_tensorrt(_resize_model(**attributes), version)
        assert _rules(result) == {("resize", "upsample")} and words in result.summary(), result.summary()


def test_resize_antialias_and_aspect_policy_are_refused_at_opset_18() -> None:
    result = check_onnx_for_tensorrt(_resize_model(18, mode="linear", antialias=1,
                                                   keep_aspect_ratio_policy="not_larger"), "10.3")
    (problem,) = [p for p in result.problems if p.rule == "resize"]  # one problem per node, every reason in it
    assert "antialias" in problem.message and "stretch" in problem.message and not result.ok
