"""Named decodings of detector outputs from common exporters, appended to a user's ONNX graph in float."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edgecv.errors import ModelError
from edgecv.models.onnx_input import inspect_onnx
from edgecv.quantize.onnx_float_layers import run_batches
from edgecv.tasks.detection.decoders import NmsOutputDecoder, YoloObjectnessDecoder
from edgecv.tasks.detection.onnx_decoding import DECODE_PREFIX, decode_onnx

CLASSES, ANCHORS, SIDE = 3, 16, 32


def _yolo_graph(objectness: bool) -> onnx.ModelProto:
    """Conv(3 -> 4+[1]+C, 8x8 stride 8) -> Reshape (1, ch, 16) [-> Transpose (1, 16, ch)]: a YOLO-shaped head."""
    channels = 4 + int(objectness) + CLASSES
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["images", "w"], ["c"], name="head", kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Reshape", ["c", "shape"], ["raw" if not objectness else "flat"], name="reshape")]
    if objectness:
        nodes.append(helper.make_node("Transpose", ["flat"], ["raw"], name="transpose", perm=[0, 2, 1]))
    out_shape = [1, ANCHORS, channels] if objectness else [1, channels, ANCHORS]
    graph = helper.make_graph(
        nodes, "det", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(rng.normal(0, 0.1, (channels, 3, 8, 8)).astype(np.float32), "w"),
         numpy_helper.from_array(np.array([1, channels, ANCHORS], dtype=np.int64), "shape")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _section(decoding: str, path: str = "det.onnx") -> SimpleNamespace:
    return SimpleNamespace(onnx=Path(path), outputs=None, input_hw=None, decoding=decoding)


@pytest.mark.parametrize("objectness", [False, True])
def test_yolo_heads_decode_to_corner_boxes_and_class_scores(objectness: bool) -> None:
    model = _yolo_graph(objectness)
    section = _section("yolo-objectness" if objectness else "yolo")
    info = inspect_onnx(model, section)
    decoded = decode_onnx(model, info, section, CLASSES)
    assert [o.name for o in decoded.graph.output] == ["boxes", "scores"]
    assert all(n.name.startswith(DECODE_PREFIX) for n in decoded.graph.node if n.name not in
               ("head", "reshape", "transpose"))
    images = np.random.default_rng(2).uniform(0, 1, (1, 3, SIDE, SIDE)).astype(np.float32)
    raw = run_batches(model, [images])["raw"]
    out = run_batches(decoded, [images])
    rows = raw[0] if objectness else raw[0].T  # (anchors, channels)
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    expected_boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    expected_scores = rows[:, 4:5] * rows[:, 5:] if objectness else rows[:, 4:]
    np.testing.assert_allclose(out["boxes"][0], expected_boxes, atol=1e-6)
    np.testing.assert_allclose(out["scores"][0], expected_scores, atol=1e-6)


def test_class_count_must_match_the_data() -> None:
    model = _yolo_graph(False)
    section = _section("yolo")
    with pytest.raises(ModelError, match="gives 3 class scores but the data has 5 classes"):
        decode_onnx(model, inspect_onnx(model, section), section, 5)


def test_wrong_decoding_for_the_output_is_one_line() -> None:
    model = _yolo_graph(False)
    section = _section("boxes-scores")
    with pytest.raises(ModelError, match="boxes-scores reads 2 output"):
        decode_onnx(model, inspect_onnx(model, section), section, CLASSES)


def test_nms_outputs_become_one_hot_scores_up_to_num_dets() -> None:
    count = torch.tensor([[2]])
    boxes = torch.tensor([[[0.0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]]])
    scores = torch.tensor([[0.9, 0.6, 0.3]])
    classes = torch.tensor([[2, 0, 1]])
    out = NmsOutputDecoder(num_classes=3)((count, boxes, scores, classes), 32, 32)
    expected = torch.tensor([[[0, 0, 0.9], [0.6, 0, 0], [0, 0, 0]]])
    torch.testing.assert_close(out["scores"], expected)
    torch.testing.assert_close(out["boxes"], boxes)


def test_objectness_decoder_refuses_a_grid_map() -> None:
    with pytest.raises(ModelError, match="yolo-objectness expects"):
        YoloObjectnessDecoder()(torch.zeros(1, 85, 22, 22), 352, 352)
