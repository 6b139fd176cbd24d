"""A user's ONNX file as the model: what is read from the graph, and what is refused before any work (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.recipe import load_recipe
from tests.conftest import tiny_recipe_data
from tests.onnx_input.graphs import classifier

runner = CliRunner()
NORMALIZE = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def _recipe(tmp_path: Path, model: dict, **sections: object) -> Path:
    """The tiny recipe with ``model`` as the whole model section (no zoo arch) and no training."""
    data = tiny_recipe_data(tmp_path, **{"train": {"epochs": 0}, **sections})
    data["model"] = model
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _refused(tmp_path: Path, path: Path) -> str:
    """The one stderr line of ``edgecv compress`` refusing ``path`` with exit 2, having written no report."""
    result = runner.invoke(app, ["compress", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert not list((tmp_path / "runs").rglob("report.json"))
    return lines[0]


def _says(line: str, *parts: str) -> bool:
    return all(part in line for part in parts)


def test_old_opset_is_converted_and_input_read_from_graph(tmp_path: Path) -> None:
    """An opset-11 graph is converted to the run's opset; size and batch come from the graph, not the zoo."""
    graph = classifier(tmp_path / "m.onnx", opset=11)
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE})
    result = runner.invoke(app, ["compress", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "runs").rglob("report.json")).read_text())
    assert "Model: onnx:m.onnx." in next((tmp_path / "runs").rglob("report.md")).read_text()
    load = next(s for s in report["stages"] if s["kind"] == "load-onnx")
    assert load["metrics"]["source_opset"] == 11 and load["metrics"]["opset"] == 17
    assert load["metrics"]["task_outputs"] == ["logits"]
    assert load["metrics"]["simplified"] and load["metrics"]["conversion_max_abs_diff"] < 1e-5  # the same model
    original = load["outputs"][0]
    assert original["input"]["shape"] == [3, 16, 16] and original["input"]["name"] == "images"
    assert original["params"] == 8 * 3 * 9 + 8 + 10 * 8 + 10
    assert original["macs"] == 16 * 16 * 8 * 27 + 80  # conv + gemm, counted on the graph


def test_bad_opset_is_refused(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "old.onnx", opset=6)
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE})
    line = _refused(tmp_path, path)
    assert _says(line, "old.onnx", "opset 6", "re-export"), line


def test_custom_operator_is_refused_naming_the_node(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "custom.onnx", custom_op=True)
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE})
    line = _refused(tmp_path, path)
    assert _says(line, "custom.onnx", "'mystery'", "com.acme::Mystery"), line


def test_missing_input_shape_needs_input_size(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "dynamic.onnx", height="h", width="w")
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE})
    line = _refused(tmp_path, path)
    assert _says(line, "model.input_size", "no fixed height"), line
    fixed = _recipe(tmp_path, {"onnx": str(graph), "input_size": 16, **NORMALIZE})
    assert load_recipe(fixed).model.input_hw == (16, 16)
    result = runner.invoke(app, ["validate", str(fixed)])
    assert result.exit_code == 0, result.output


def test_input_size_contradicting_the_graph_is_refused(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx")
    path = _recipe(tmp_path, {"onnx": str(graph), "input_size": 32, **NORMALIZE})
    line = _refused(tmp_path, path)
    assert _says(line, "model.input_size", "contradicts", "16x16"), line


def test_normalization_must_be_given(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx")
    path = _recipe(tmp_path, {"onnx": str(graph)})
    line = _refused(tmp_path, path)
    assert _says(line, "model.mean", "does not say how its input was normalized"), line


@pytest.mark.parametrize(("stage", "words"), [
    ({"type": "prune", "target_macs": 0.5}, ["stages[0]", "prune needs the model's PyTorch code"]),
    ({"type": "quantize", "method": "qat"}, ["stages[0].method", "QAT"]),
    ({"type": "quantize", "weight_type": "fastest", "max_accuracy_drop": 1.0}, ["stages[0].weight_type", "fastest"]),
])
def test_stages_that_need_pytorch_code_are_refused(tmp_path: Path, stage: dict, words: list[str]) -> None:
    graph = classifier(tmp_path / "m.onnx")
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE}, stages=[stage])
    line = _refused(tmp_path, path)
    assert _says(line, *words), line


def test_training_is_refused(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx")
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE}, train={"epochs": 1})
    line = _refused(tmp_path, path)
    assert _says(line, "key 'train'", "train.epochs: 0"), line


def test_unknown_output_and_torch_fields_are_refused(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx")
    line = _refused(tmp_path, _recipe(tmp_path, {"onnx": str(graph), "outputs": ["logit"], **NORMALIZE}))
    assert _says(line, "model.outputs", "'logit'", "scores"), line
    line = _refused(tmp_path, _recipe(tmp_path, {"onnx": str(graph), "checkpoint": "w.pt", **NORMALIZE}))
    assert _says(line, "model.checkpoint applies to a PyTorch model only"), line
    line = _refused(tmp_path, _recipe(tmp_path, {"onnx": str(graph), "arch": "small_cnn", **NORMALIZE}))
    assert _says(line, "exactly one of model.arch"), line


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    line = _refused(tmp_path, _recipe(tmp_path, {"onnx": str(bad), **NORMALIZE}))
    assert _says(line, "bad.onnx", "not an ONNX model"), line
    line = _refused(tmp_path, _recipe(tmp_path, {"onnx": str(tmp_path / "gone.onnx"), **NORMALIZE}))
    assert _says(line, "does not exist"), line


def test_resume_refuses_a_model_file_replaced_under_the_same_path(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx", seed=0)
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE})
    assert runner.invoke(app, ["compress", str(path)]).exit_code == 0
    assert runner.invoke(app, ["compress", str(path), "--resume"]).exit_code == 0  # unchanged: all reused
    classifier(graph, seed=1)  # other weights, same file name
    result = runner.invoke(app, ["compress", str(path), "--resume"])
    assert result.exit_code == 2, result.output
    assert "model.onnx" in result.stderr and "start a new run" in result.stderr


def test_fp16_of_an_onnx_model_targets_the_fp16_devices(tmp_path: Path) -> None:
    graph = classifier(tmp_path / "m.onnx")
    path = _recipe(tmp_path, {"onnx": str(graph), **NORMALIZE}, stages=[{"type": "quantize", "precision": "fp16"}],
                   validate={"devices": ["host-cpu", "jetson-orin-nano-8gb"], "batch_sizes": [1], "runs": 2})
    result = runner.invoke(app, ["compress", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "runs").rglob("report.json")).read_text())
    quantize = next(s for s in report["stages"] if s["kind"] == "quantize")
    (fp16,) = quantize["outputs"]
    assert fp16["precision"] == "fp16" and fp16["targets"] == ["jetson-orin-nano-8gb"]
    assert abs(quantize["metrics"]["fp16_emulated_top1"] - quantize["metrics"]["fp32_top1"]) <= 2.0
