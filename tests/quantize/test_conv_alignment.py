"""Channel alignment and integer hard-sigmoid gates (ONNX Runtime CPU scheme) change no output of the INT8 ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edgecv.artifacts import InputSpec
from edgecv.quantize.output_quantizers import aligned_hard_sigmoid_range
from edgecv.quantize.qdq_rewrites import integer_hard_sigmoid
from tests.quantize.test_int8_fusion import TinyMobileNetV3
from tests.quantize.tiny_models import cpu_scheme_fake_quant

Exports = tuple[Path, Path, np.ndarray]


def _infer(path: Path, images: np.ndarray) -> np.ndarray:
    from edgecv.runtime import OrtRunner

    with OrtRunner(path, threads=1) as runner:
        return runner.infer(images)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    """A MobileNetV3 block with a 24-channel depthwise conv (not a multiple of 16) and a 6-channel squeeze (not a
    multiple of 4), exported with the channel regions widened and without (Pad/Slice around the convs)."""
    from edgecv.quantize import onnx_export
    from edgecv.quantize.schemes import ORT_CPU

    torch.manual_seed(0)
    images = torch.rand(64, 3, 32, 32) * 2 - 1
    fake = cpu_scheme_fake_quant(TinyMobileNetV3(width=24, squeeze=6), images)
    folder = tmp_path_factory.mktemp("alignment")
    widened, padded = folder / "widened.onnx", folder / "padded.onnx"
    weights = onnx_export.weight_storage(ORT_CPU)
    onnx_export.write_qdq_onnx(fake, InputSpec(shape=(3, 32, 32)), widened, opset=17, weights=weights)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "widen_channel_regions", lambda model: 0)
        onnx_export.write_qdq_onnx(fake, InputSpec(shape=(3, 32, 32)), padded, opset=17, weights=weights)
    return widened, padded, images.numpy()


def test_widened_regions_need_no_pad_or_slice_and_give_identical_outputs(exports: Exports) -> None:
    from edgecv.quantize.onnx_graph import ort_fusion

    widened, padded, images = exports
    ops = {path: [n.op_type for n in onnx.load(str(path)).graph.node] for path in (widened, padded)}
    # padded: the stem's RGB input, the depthwise input and the SE's 6-channel squeeze get a Pad, the depthwise
    # output a Slice; widened: only the stem (its input is the graph input) keeps one
    assert (ops[padded].count("Pad"), ops[padded].count("Slice")) == (3, 1)
    assert (ops[widened].count("Pad"), ops[widened].count("Slice")) == (1, 0)
    weights = {t.name: t for t in onnx.load(str(widened)).graph.initializer}
    depthwise = [w for w in weights.values() if len(w.dims) == 4 and w.dims[1] == 1 and w.dims[2] == 3]
    assert [list(w.dims) for w in depthwise] == [[32, 1, 3, 3]]
    fusion = ort_fusion(widened)
    assert (fusion.get("QLinearConv"), fusion["float_convs"], fusion["float_ops"]) == (6, 0, {})
    np.testing.assert_array_equal(_infer(widened, images), _infer(padded, images))


def _gate_model(scale: float, zero_point: int) -> onnx.ModelProto:
    """``relu6(DQ(x_q) + 3) / 6`` as torch exports hard-sigmoid, on every uint8 value."""
    inits = [numpy_helper.from_array(np.array(scale, np.float32), "s"),
             numpy_helper.from_array(np.array(zero_point, np.uint8), "z"),
             numpy_helper.from_array(np.array(3.0, np.float32), "three"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array(6.0, np.float32), "six")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["x_dq"], name="dq"),
             helper.make_node("Add", ["x_dq", "three"], ["shifted"], name="add"),
             helper.make_node("Clip", ["shifted", "zero", "six"], ["clipped"], name="clip"),
             helper.make_node("Div", ["clipped", "six"], ["gate"], name="div")]
    graph = helper.make_graph(nodes, "gate", [helper.make_tensor_value_info("x", TensorProto.UINT8, [256])],
                              [helper.make_tensor_value_info("gate", TensorProto.FLOAT, [256])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("high", [0.5, 2.9, 3.0, 7.3, 40.0, 700.0])
def test_integer_hard_sigmoid_gate_is_the_float_gate_on_an_aligned_grid(high: float) -> None:
    import onnxruntime as ort

    low, top = aligned_hard_sigmoid_range(high)  # type: ignore[misc]
    scale = (top - low) / 255
    zero_point = round(-low / scale)
    assert low == -3.0 and top >= high and abs(scale * zero_point - 3.0) < 1e-9
    assert top - low <= (max(high, 0.0) + 3) * 1.5 or zero_point == 1  # coarser by less than one level in z
    model = _gate_model(scale, zero_point)
    values = np.arange(256, dtype=np.uint8)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": values})[0]
    assert integer_hard_sigmoid(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Clip", "DequantizeLinear"]
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"x": values})[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_integer_hard_sigmoid_leaves_an_unaligned_grid_alone() -> None:
    model = _gate_model(0.0465, 65)  # -3.02 at level 0: x + 3 is not scale * x_q
    assert integer_hard_sigmoid(model) == 0
    assert [n.op_type for n in model.graph.node] == ["DequantizeLinear", "Add", "Clip", "Div"]
    assert aligned_hard_sigmoid_range(800.0) is None
