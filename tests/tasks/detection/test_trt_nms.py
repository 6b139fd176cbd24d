"""EfficientNMS_TRT appended to a detection graph: the node, its outputs, the TensorRT checks, the recipe wiring.

ONNX Runtime cannot run the plugin, so the numbers it would read are checked instead: the graph cut just before the
plugin gives exactly the ``boxes`` and ``scores`` that edgecv's ONNX Runtime validation reads from the artifact.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing, StageResult, sha256_file
from edgecv.cli import app
from edgecv.deploy.detection_postprocess import PostprocessParams
from edgecv.devices import load_device
from edgecv.errors import ModelError, RecipeError
from edgecv.export.tensorrt_rules import check_for_device
from edgecv.recipe import load_recipe
from edgecv.runtime import OrtRunner
from edgecv.stages.contract import StageCheck
from edgecv.stages.export import ExportOnnxStage
from edgecv.tasks import get_task
from edgecv.tasks.detection.nms_variants import require_nms_devices, write_nms_variants
from edgecv.tasks.detection.trt_nms import NMS_OUTPUTS, append_efficient_nms
from tests.conftest import write_recipe

DETECTION_RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "quickstart-detection.yaml"

CLASSES, ANCHORS = 3, 16  # a 4x4 map, one anchor per cell


def _init(name: str, values: object, dtype: object = np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _detector(int8: bool = False) -> onnx.ModelProto:
    """X (N, 3, 4, 4) -> 1x1 conv to 4 + classes channels -> (N, 16, 4 + classes) -> boxes and sigmoid scores.

    ``int8``: the conv's input and weights go through QuantizeLinear/DequantizeLinear (TensorRT's scheme: int8,
    zero point 0, per-channel weights on axis 0); the decoding after it stays float, as in edgecv's INT8 detectors.
    """
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4 + CLASSES, 3, 1, 1)).astype(np.float32)
    inits = [
        _init("W", weights),
        _init("shape", [0, 4 + CLASSES, -1], np.int64),
        _init("axis", [2], np.int64),
        _init("at0", [0], np.int64),
        _init("at4", [4], np.int64),
        _init("end", [4 + CLASSES], np.int64),
        _init("pixels", 64.0),
    ]
    conv_in, conv_w, nodes = "X", "W", []
    if int8:
        w_scale = np.abs(weights).reshape(4 + CLASSES, -1).max(axis=1) / 127
        inits += [
            _init("x_scale", 0.05),
            _init("x_zero", 0, np.int8),
            _init("w_scale", w_scale),
            _init("w_zero", np.zeros(4 + CLASSES), np.int8),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["X", "x_scale", "x_zero"], ["xq"], name="x_q"),
            helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xdq"], name="x_dq"),
            helper.make_node("QuantizeLinear", ["W", "w_scale", "w_zero"], ["wq"], name="w_q", axis=0),
            helper.make_node("DequantizeLinear", ["wq", "w_scale", "w_zero"], ["wdq"], name="w_dq", axis=0),
        ]
        conv_in, conv_w = "xdq", "wdq"
    nodes += [
        helper.make_node("Conv", [conv_in, conv_w], ["head"], name="head"),
        helper.make_node("Reshape", ["head", "shape"], ["flat"], name="flat"),
        helper.make_node("Transpose", ["flat"], ["per_anchor"], name="per_anchor", perm=[0, 2, 1]),
        helper.make_node("Slice", ["per_anchor", "at0", "at4", "axis"], ["raw_boxes"], name="decode/boxes"),
        helper.make_node("Sigmoid", ["raw_boxes"], ["unit_boxes"], name="decode/unit"),
        helper.make_node("Mul", ["unit_boxes", "pixels"], ["boxes"], name="decode/pixels"),
        helper.make_node("Slice", ["per_anchor", "at4", "end", "axis"], ["logits"], name="decode/logits"),
        helper.make_node("Sigmoid", ["logits"], ["scores"], name="decode/scores"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-detector",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 3, 4, 4])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", ANCHORS, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", ANCHORS, CLASSES]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def _cut_before_plugin(model: onnx.ModelProto) -> onnx.ModelProto:
    """The NMS graph without its plugin node, its outputs the plugin's inputs (as their value_info declares)."""
    cut = onnx.ModelProto()
    cut.CopyFrom(model)
    plugin = next(n for n in cut.graph.node if n.op_type == "EfficientNMS_TRT")
    feeds = {v.name: v for v in cut.graph.value_info if v.name in plugin.input}
    outputs = [feeds[name] for name in plugin.input]
    cut.graph.node.remove(plugin)
    del cut.graph.output[:]
    cut.graph.output.extend(outputs)
    del cut.opset_import[:]
    cut.opset_import.extend([helper.make_opsetid("", 17)])
    return cut


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8-qdq"])
def test_nms_node_attributes_and_outputs(int8: bool) -> None:
    params = PostprocessParams()
    nms = append_efficient_nms(_detector(int8), params)
    onnx.checker.check_model(nms, full_check=True)
    node = nms.graph.node[-1]
    assert (node.op_type, node.domain, list(node.input)) == ("EfficientNMS_TRT", "TRT", ["boxes", "scores"])
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attributes["score_threshold"] == pytest.approx(params.score_threshold)
    assert attributes["iou_threshold"] == pytest.approx(params.iou_threshold)
    assert attributes["max_output_boxes"] == params.max_detections == 100
    assert {k: attributes[k] for k in ("background_class", "score_activation", "class_agnostic", "box_coding")} == {
        "background_class": -1,
        "score_activation": 0,
        "class_agnostic": 0,
        "box_coding": 0,
    }
    assert ("TRT", 1) in [(o.domain, o.version) for o in nms.opset_import]
    outputs = {o.name: o.type.tensor_type for o in nms.graph.output}
    assert list(outputs) == list(NMS_OUTPUTS)
    dtypes = [outputs[n].elem_type for n in NMS_OUTPUTS]
    assert dtypes == [TensorProto.INT32, TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.INT32]
    shapes = [[d.dim_value or d.dim_param for d in outputs[n].shape.dim] for n in NMS_OUTPUTS]
    assert shapes == [["batch", 1], ["batch", 100, 4], ["batch", 100], ["batch", 100]]


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8-qdq"])
def test_the_plugin_reads_exactly_what_onnx_runtime_validates(int8: bool) -> None:
    model = _detector(int8)
    images = np.random.default_rng(1).uniform(-2, 2, (2, 3, 4, 4)).astype(np.float32)
    with OrtRunner(model, threads=1) as runner:
        validated = runner.infer_all(images)
    with OrtRunner(_cut_before_plugin(append_efficient_nms(model)), threads=1) as runner:
        fed = runner.infer_all(images)
    assert set(fed) == {"boxes", "scores"}
    assert validated["boxes"].shape == (2, ANCHORS, 4) and validated["scores"].shape == (2, ANCHORS, CLASSES)
    assert np.array_equal(fed["boxes"], validated["boxes"]) and np.array_equal(fed["scores"], validated["scores"])
    assert validated["scores"].std() > 0  # not a constant graph


@pytest.mark.parametrize("device", ["jetson-xavier-nx", "jetson-orin-nano-8gb"])  # TensorRT 8.5.2 and 10.3
@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8-qdq"])
def test_static_check_accepts_the_variant(device: str, int8: bool) -> None:
    result = check_for_device(append_efficient_nms(_detector(int8)), load_device(device))
    assert result.ok and not result.problems, result.summary()
    assert result.checked_nodes == len(_detector(int8).graph.node) + 1


def test_a_graph_without_boxes_is_refused() -> None:
    model = _detector()
    model.graph.output[0].name = "anchors"
    with pytest.raises(ModelError, match=r"no output 'boxes'.*'anchors', 'scores'"):
        append_efficient_nms(model)


def test_mismatched_anchor_counts_are_refused() -> None:
    model = _detector()
    model.graph.output[1].type.tensor_type.shape.dim[1].dim_value = ANCHORS + 1
    with pytest.raises(ModelError, match=r"same number of boxes"):
        append_efficient_nms(model)


def _artifact(path: Path, name: str, targets: list[str]) -> ModelArtifact:
    return ModelArtifact(
        name=name,
        format="onnx",
        path=str(path),
        input=InputSpec(shape=(3, 4, 4)),
        preprocessing=Preprocessing(size=(4, 4)),
        targets=targets,
    )


def test_variants_are_written_and_checked_per_tensorrt_device(tmp_path: Path) -> None:
    folder = tmp_path / "02-export-onnx"
    folder.mkdir()
    onnx.save(_detector(), str(folder / "trained.onnx"))
    onnx.save(_detector(int8=True), str(folder / "int8-cpu.onnx"))
    artifacts = [
        _artifact(folder / "trained.onnx", "trained-onnx", []),
        _artifact(folder / "int8-cpu.onnx", "int8-cpu", ["host-cpu"]),
    ]  # served to no TensorRT device
    devices = [load_device(n) for n in ("host-cpu", "jetson-xavier-nx", "jetson-orin-nano-8gb")]
    records, files, warnings = write_nms_variants(artifacts, devices, folder, tmp_path)
    assert [r["artifact"] for r in records] == ["trained-onnx"] and not warnings
    written = folder / "trained-onnx.nms.onnx"
    assert files == {"02-export-onnx/trained-onnx.nms.onnx": sha256_file(written)}
    assert sorted(p.name for p in folder.iterdir()) == ["int8-cpu.onnx", "trained-onnx.nms.onnx", "trained.onnx"]
    checks = records[0]["tensorrt_check"]
    assert sorted(checks) == ["jetson-orin-nano-8gb", "jetson-xavier-nx"]
    assert [(c["tensorrt"], c["ok"]) for c in checks.values()] == [("8.5.2", True), ("10.3", True)]
    saved = onnx.load(str(written))
    assert [o.name for o in saved.graph.output] == list(NMS_OUTPUTS)
    assert records[0]["attributes"]["max_output_boxes"] == 100 and records[0]["path"] == next(iter(files))


def test_devices_without_the_plugin_are_refused_before_work() -> None:
    with pytest.raises(RecipeError, match=r"export.trt_nms.*no TensorRT device"):
        require_nms_devices([load_device("host-cpu")])
    orin = load_device("jetson-orin-nano-8gb")
    old = orin.model_copy(update={"software": orin.software.model_copy(update={"tensorrt": "7.1.3"})})
    with pytest.raises(RecipeError, match=r"TensorRT 8\.0 and later.*jetson-orin-nano-8gb \(TensorRT 7\.1\.3\)"):
        require_nms_devices([old])
    require_nms_devices([load_device("jetson-nano-4gb")])  # TensorRT 8.2.1 ships it


def test_trt_nms_is_refused_for_classification(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, export={"trt_nms": True})
    with pytest.raises(RecipeError, match=r"export\.trt_nms': it appends NMS to a detector.*'classification'"):
        get_task("classification").check_export(load_recipe(path).export, [load_device("jetson-orin-nano-8gb")])
    result = CliRunner().invoke(app, ["compress", str(path)])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert str(path) in lines[0] and "remove export.trt_nms or set task: detection" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_the_export_stage_writes_variants_of_every_onnx_artifact_of_the_run(tmp_path: Path) -> None:
    """Its own FP32 export and an earlier stage's INT8 file for the Jetson; the stage records files and checks."""
    folder = tmp_path / "03-export-onnx"
    folder.mkdir()
    onnx.save(_detector(), str(folder / "trained.onnx"))
    onnx.save(_detector(int8=True), str(tmp_path / "int8-tensorrt.onnx"))
    exported = _artifact(folder / "trained.onnx", "trained-onnx", [])
    quantized = StageResult(
        stage="02-quantize",
        kind="quantize",
        outputs=[_artifact(tmp_path / "int8-tensorrt.onnx", "int8-tensorrt", ["jetson-orin-nano-8gb"])],
    )
    recipe = load_recipe(DETECTION_RECIPE, ["export.trt_nms=true"])
    devices = [load_device("host-cpu"), load_device("jetson-orin-nano-8gb")]
    ctx = SimpleNamespace(recipe=recipe, results=[quantized], devices=devices, run_dir=tmp_path)
    records, files, warnings = get_task("detection").export_variants(ctx, [exported, *quantized.outputs], folder)
    metrics = records
    assert [r["artifact"] for r in metrics["trt_nms"]] == ["trained-onnx", "int8-tensorrt"] and not warnings
    assert sorted(files) == ["03-export-onnx/int8-tensorrt.nms.onnx", "03-export-onnx/trained-onnx.nms.onnx"]
    assert all(list(r["tensorrt_check"]) == ["jetson-orin-nano-8gb"] for r in metrics["trt_nms"])
    assert all(r["tensorrt_check"]["jetson-orin-nano-8gb"]["ok"] for r in metrics["trt_nms"])
    off = SimpleNamespace(recipe=load_recipe(DETECTION_RECIPE), results=[], devices=devices, run_dir=tmp_path)
    assert get_task("detection").export_variants(off, [exported], folder) == ({}, {}, [])


def test_the_export_stage_check_wants_a_tensorrt_device(tmp_path: Path) -> None:
    recipe = load_recipe(DETECTION_RECIPE, ["export.trt_nms=true"])
    with pytest.raises(RecipeError, match=r"key 'export.trt_nms': validate.devices \(host-cpu\) has no TensorRT"):
        ExportOnnxStage.check(recipe.export, StageCheck(recipe, [load_device("host-cpu")], key="export"))
    ExportOnnxStage.check(recipe.export, StageCheck(recipe, [load_device("jetson-orin-nano-8gb")], key="export"))
