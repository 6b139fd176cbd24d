"""A segmenter given as an ONNX file: its one output read as logits, mIoU on the digit canvases, INT8 in form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgecv.api import compress
from edgecv.recipe import load_recipe
from tests.conftest import REPO

CLASSES, SIDE = 11, 48


def _segmenter(path: Path) -> Path:
    """Conv(3 -> 11, 3x3, pad 1): a class map at the input resolution, with a bias that favours background."""
    rng = np.random.default_rng(3)
    bias = np.full(CLASSES, -1.0, np.float32)
    bias[0] = 1.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["class_map"], name="classifier", pads=[1, 1, 1, 1])],
        "seg", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("class_map", TensorProto.FLOAT, ["n", CLASSES, SIDE, SIDE])],
        [numpy_helper.from_array(rng.normal(0, 0.2, (CLASSES, 3, 3, 3)).astype(np.float32), "w"),
         numpy_helper.from_array(bias, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


def test_onnx_segmenter_validates_and_quantizes(tmp_path: Path) -> None:
    graph = _segmenter(tmp_path / "seg.onnx")
    report = compress(load_recipe(REPO / "recipes" / "quickstart-segmentation.yaml", [
        f"model={{onnx: {graph}, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}", "train.epochs=0",
        "data.max_val_samples=16", "data.max_train_samples=32", "export.parity.samples=8",
        "stages=[{type: quantize, calibration_size: 16, calibration_batch_size: 8}]",
        "validate.runs=2", "validate.warmup=1", "report.formats=[json]", f"output={tmp_path}",
    ]))
    rows = {v.artifact: v for v in report.validations}
    fp32, int8 = rows["original"], rows["int8-ort-cpu"]
    assert 0.0 < fp32.metrics["miou"] < 100.0 and "pixel_accuracy" in fp32.metrics
    assert abs(int8.metrics["miou"] - fp32.metrics["miou"]) < 5.0  # one conv: INT8 moves little
    load = next(s for s in report.stages if s.kind == "load-onnx")
    assert load.metrics["task_outputs"] == ["logits"] and load.metrics["outputs"] == ["class_map"]
    quantize = next(s for s in report.stages if s.kind == "quantize")
    assert quantize.metrics["schemes"][0]["parity"]["passed"]
