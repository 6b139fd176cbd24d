"""CPU-scheme rewrites for ShuffleNet-style graphs (FastestDet's backbone): DequantizeLinear sunk below a channel
shuffle's Gather/Split, ReLU moved above the quantizer after a conv, and AveragePool as an int8 depthwise conv.

Each rewrite is checked on a small QDQ graph made here: ONNX Runtime's values before and after, and the kernels it
runs after (ort_fusion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecv.quantize.average_pool_conv import average_pool_as_depthwise_conv
from edgecv.quantize.onnx_graph import layer_counts, ort_fusion
from edgecv.quantize.qdq_rewrites import sink_dequantize_through
from edgecv.quantize.relu_hoist import hoist_relu_above_quantizer
from edgecv.quantize.uint8_activations import uint8_activations
from edgecv.runtime import OrtRunner

RNG = np.random.default_rng(0)


def _qdq(graph: list[onnx.NodeProto], inits: list[onnx.TensorProto], name: str, source: str, scale: float,
         zero_point: int) -> str:
    """Append ``source -> QuantizeLinear -> DequantizeLinear`` (uint8, per tensor); return the dequantized name."""
    inits += [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
              numpy_helper.from_array(np.array(zero_point, np.uint8), f"{name}_z")]
    graph.append(helper.make_node("QuantizeLinear", [source, f"{name}_s", f"{name}_z"], [f"{name}_q"],
                                  name=f"{name}_Q"))
    graph.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                                  name=f"{name}_DQ"))
    return f"{name}_dq"


def _conv(graph: list[onnx.NodeProto], inits: list[onnx.TensorProto], name: str, source: str, cin: int,
          cout: int) -> str:
    """Append a 1x1 conv with int8 weights behind a DequantizeLinear; return its output name. The weights use 7 bits:
    full-range ones saturate ONNX Runtime's u8s8 kernels on x86 without VNNI (:mod:`edgecv.quantize.cpu_isa`)."""
    weight = RNG.integers(-64, 64, (cout, cin, 1, 1)).astype(np.int8)
    inits += [numpy_helper.from_array(weight, f"{name}_w_q"),
              numpy_helper.from_array(np.array(0.01, np.float32), f"{name}_w_s"),
              numpy_helper.from_array(np.array(0, np.int8), f"{name}_w_z")]
    graph.append(helper.make_node("DequantizeLinear", [f"{name}_w_q", f"{name}_w_s", f"{name}_w_z"], [f"{name}_w"],
                                  name=f"{name}_w_DQ"))
    graph.append(helper.make_node("Conv", [source, f"{name}_w"], [f"{name}_out"], name=f"{name}/Conv"))
    return f"{name}_out"


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], outputs: list[tuple[str, int]],
           channels: int = 8) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 12, 12])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [f"{o}_{i}" for i in range(rank)])
         for o, rank in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    with OrtRunner(model, threads=1) as runner:
        return list(runner.infer_all(x).values())


def _save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    path = folder / name
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def x() -> np.ndarray:
    return RNG.standard_normal((1, 8, 12, 12)).astype(np.float32)


def test_a_channel_split_gets_one_dequantize_per_branch_and_both_convs_fuse(tmp_path: Path, x: np.ndarray) -> None:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    source = _qdq(nodes, inits, "in", "x", 0.05, 128)
    inits.append(numpy_helper.from_array(np.array([4, 4], np.int64), "sizes"))
    nodes.append(helper.make_node("Split", [source, "sizes"], ["left", "right"], axis=1, name="shuffle/Split"))
    inits.append(numpy_helper.from_array(np.array(1, np.int64), "index"))
    nodes.append(helper.make_node("Gather", [source, "index"], ["gathered"], axis=1, name="shuffle/Gather"))
    nodes.append(helper.make_node("Relu", ["gathered"], ["picked"], name="picked/Relu"))
    outputs = [_qdq(nodes, inits, f"o{i}", _conv(nodes, inits, f"c{i}", branch, 4, 4), 0.1, 128)
               for i, branch in enumerate(("left", "right"))]
    model = _model(nodes, inits, [*((o, 4) for o in outputs), ("picked", 3)])
    before = _run(model, x)
    assert ort_fusion(_save(model, tmp_path, "before.onnx"))["float_convs"] == 2

    assert sink_dequantize_through(model) == 2  # the Split (two outputs) and the Gather
    onnx.checker.check_model(model)
    after = _run(model, x)
    fusion = ort_fusion(_save(model, tmp_path, "after.onnx"))
    assert (fusion["float_convs"], fusion.get("QLinearConv")) == (0, 2), fusion["ops"]
    for a, b in zip(before, after, strict=True):  # QLinearConv vs float conv on the same grids: at most one step
        assert np.abs(a - b).max() <= 0.1 + 1e-6


def _conv_quantizer_relu(zero_point: int) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    conv = _conv(nodes, inits, "c", _qdq(nodes, inits, "in", "x", 0.05, 128), 8, 8)
    quantized = _qdq(nodes, inits, "out", conv, 0.08, zero_point)
    nodes.append(helper.make_node("Relu", [quantized], ["relu"], name="c/Relu"))
    return _model(nodes, inits, [(_conv(nodes, inits, "next", "relu", 8, 4), 4)])


def test_a_relu_after_a_conv_quantizer_moves_above_it_and_fuses_into_the_conv(tmp_path: Path, x: np.ndarray) -> None:
    model = _conv_quantizer_relu(zero_point=128)
    before = _run(model, x)[0]
    assert "Relu" in ort_fusion(_save(model, tmp_path, "before.onnx"))["float_ops"]

    assert hoist_relu_above_quantizer(model) == 1
    onnx.checker.check_model(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    quantizer = next(n for n in model.graph.node if n.name == "out_Q")
    producer = next(n for n in model.graph.node if quantizer.input[0] in n.output)
    assert producer.op_type == "Relu"
    # the range the ReLU leaves, [0, 127 * 0.08], now on all 256 levels from zero
    assert int(inits[quantizer.input[2]]) == 0
    assert float(inits[quantizer.input[1]]) == pytest.approx(127 * 0.08 / 255)
    fusion = ort_fusion(_save(model, tmp_path, "after.onnx"))
    # the ReLU is folded into the first conv's QLinearConv (the last conv, a graph output, stays float)
    assert "Relu" not in fusion["float_ops"] and fusion.get("QLinearConv") == 1, fusion["ops"]
    after = _run(model, x)[0]
    # a finer grid on the same range: the next conv's inputs move by at most half an old step each
    step_effect = 0.5 * 0.08 * np.abs(numpy_helper.to_array(
        next(t for t in model.graph.initializer if t.name == "next_w_q")).astype(np.float32) * 0.01).sum(1).max()
    assert np.abs(after - before).max() <= step_effect + 1e-5
    assert np.abs(after - before).max() > 0  # it is a different grid, not a no-op


def test_a_quantizer_already_starting_at_zero_keeps_its_grid(x: np.ndarray) -> None:
    model = _conv_quantizer_relu(zero_point=0)
    before = _run(model, x)[0]
    assert hoist_relu_above_quantizer(model) == 1
    np.testing.assert_allclose(_run(model, x)[0], before, atol=1e-5)


def _pool_model(count_include_pad: int, pads: list[int], pad_before: list[int] | None = None) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    source = _qdq(nodes, inits, "in", "x", 0.05, 128)
    if pad_before is not None:  # an explicit zero Pad in float before the pool, as FastestDet's author export has
        inits.append(numpy_helper.from_array(np.array(pad_before, np.int64), "pad_widths"))
        nodes.append(helper.make_node("Pad", [source, "pad_widths"], ["padded"], name="avg_pool/Pad"))
        source = "padded"
    nodes.append(helper.make_node("AveragePool", [source], ["pooled"], kernel_shape=[3, 3], strides=[2, 2],
                                  pads=pads, count_include_pad=count_include_pad, name="avg_pool/AveragePool"))
    return _model(nodes, inits, [(_qdq(nodes, inits, "out", "pooled", 0.02, 128), 4)])


def test_a_quantized_average_pool_runs_as_an_int8_depthwise_conv(tmp_path: Path, x: np.ndarray) -> None:
    model = _pool_model(count_include_pad=1, pads=[1, 1, 1, 1])
    before = _run(model, x)[0]
    assert ort_fusion(_save(model, tmp_path, "before.onnx"))["ops"].get("QLinearAveragePool") == 1

    assert average_pool_as_depthwise_conv(model) == 1
    onnx.checker.check_model(model)
    fusion = ort_fusion(_save(model, tmp_path, "after.onnx"))
    assert (fusion.get("QLinearConv"), fusion["ops"].get("QLinearAveragePool")) == (1, None), fusion["ops"]
    np.testing.assert_allclose(_run(model, x)[0], before, atol=0.02 + 1e-6)  # at most one output step
    assert layer_counts(model)["total"] == 0  # the pool's conv is not one of the model's layers


def test_an_average_pool_that_excludes_padding_stays_a_pool() -> None:
    assert average_pool_as_depthwise_conv(_pool_model(count_include_pad=0, pads=[1, 1, 1, 1])) == 0
    assert average_pool_as_depthwise_conv(_pool_model(count_include_pad=0, pads=[0, 0, 0, 0])) == 1


def test_a_zero_pad_before_an_average_pool_becomes_the_conv_padding(tmp_path: Path, x: np.ndarray) -> None:
    model = _pool_model(count_include_pad=0, pads=[0, 0, 0, 0], pad_before=[0, 0, 1, 1, 0, 0, 0, 0])
    before = _run(model, x)[0]

    assert average_pool_as_depthwise_conv(model) == 1
    onnx.checker.check_model(model)
    assert "Pad" not in {n.op_type for n in model.graph.node}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    assert helper.get_attribute_value(next(a for a in conv.attribute if a.name == "pads")) == [1, 1, 0, 0]
    fusion = ort_fusion(_save(model, tmp_path, "after.onnx"))
    assert (fusion.get("QLinearConv"), fusion["ops"].get("QLinearAveragePool")) == (1, None), fusion["ops"]
    np.testing.assert_allclose(_run(model, x)[0], before, atol=0.02 + 1e-6)


def test_a_pad_of_channels_before_an_average_pool_stays() -> None:
    model = _pool_model(count_include_pad=0, pads=[0, 0, 0, 0], pad_before=[0, 1, 0, 0, 0, 0, 0, 0])
    assert average_pool_as_depthwise_conv(model) == 0


def _signed_slice_conv() -> onnx.ModelProto:
    """int8 activation quantizer (zero point -4) with a Slice between it and its DequantizeLinear, then a conv."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = [
        numpy_helper.from_array(np.array(0.05, np.float32), "in_s"),
        numpy_helper.from_array(np.array(-4, np.int8), "in_z"),
        *(numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("start", 0), ("end", 4), ("axis", 1)))]
    nodes += [helper.make_node("QuantizeLinear", ["x", "in_s", "in_z"], ["in_q"], name="in_Q"),
              helper.make_node("Slice", ["in_q", "start", "end", "axis"], ["sliced"], name="in/Slice"),
              helper.make_node("DequantizeLinear", ["sliced", "in_s", "in_z"], ["in_dq"], name="in_DQ")]
    return _model(nodes, inits, [(_qdq(nodes, inits, "out", _conv(nodes, inits, "c", "in_dq", 4, 4), 0.1, 128), 4)])


def test_int8_activation_quantizers_become_uint8_with_identical_values(tmp_path: Path, x: np.ndarray) -> None:
    model = _signed_slice_conv()
    before = _run(model, x)[0]
    assert ort_fusion(_save(model, tmp_path, "before.onnx"))["float_convs"] == 1  # int8 in, uint8 out: no kernel

    assert uint8_activations(model) == 1
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    zero_points = {n.name: inits[n.input[2]] for n in model.graph.node if n.name in ("in_Q", "in_DQ")}
    assert all(z.dtype == np.uint8 and int(z) == 124 for z in zero_points.values()), zero_points
    assert inits["c_w_z"].dtype == np.int8  # weights keep their signed zero point
    fusion = ort_fusion(_save(model, tmp_path, "after.onnx"))
    assert (fusion["float_convs"], fusion.get("QLinearConv")) == (0, 1), fusion["ops"]
    # same grid, same values: the float conv and QLinearConv differ by at most one output step
    assert np.abs(_run(model, x)[0] - before).max() <= 0.1 + 1e-6
    assert uint8_activations(model) == 0
