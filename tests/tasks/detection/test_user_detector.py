"""A user's own detector (``module:factory`` + declared decoding) through export, INT8 in both schemes, validate."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from edgecv.api import compress
from edgecv.errors import EdgecvError, RecipeError
from edgecv.recipe import Recipe, load_recipe
from tests.conftest import import_beside

HERE = Path(__file__).resolve().parent

RECIPE = f"""
name: user-detector
task: detection
model:
  arch: user_detectors:{{arch}}
  code_dir: {HERE}
  kwargs: {{category_num: 10}}
  checkpoint: weights.pt
  decoding: fastestdet
  input_size: 64
  mean: [0.0, 0.0, 0.0]
  std: [1.0, 1.0, 1.0]
  channel_order: BGR
data: {{max_val_samples: 12, max_selection_samples: 8, max_train_samples: 16}}
stages:
  - {{type: distill, epochs: 1, max_batches_per_epoch: 2, batch_size: 8, alpha: 1.0}}   # from the teacher alone
  - {{type: quantize, calibration_size: 8}}
export: {{dynamic_batch: false, parity: {{samples: 8}}}}
validate: {{devices: [host-cpu, jetson-orin-nano-8gb], batch_sizes: [1, 4], runs: 2, warmup: 1}}
report: {{formats: [json]}}
"""


def _recipe(tmp_path: Path, *overrides: str, arch: str = "TinyShuffleDetector") -> Recipe:
    """The recipe in ``tmp_path``, with the user's checkpoint beside it (random weights, BatchNorm statistics
    from a few noise batches so nothing sits at its initial value)."""
    user_detectors = import_beside(HERE, "user_detectors")
    torch.manual_seed(0)
    net = getattr(user_detectors, arch)(10).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 64, 64))
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("{arch}", arch))
    return load_recipe(path, [*overrides, f"output={tmp_path / 'runs'}"])


def test_user_detector_int8_both_schemes(tmp_path: Path) -> None:
    report = compress(_recipe(tmp_path, "report.formats=[json, html]"))
    rows = {(v.artifact, v.device): v for v in report.validations}
    fp32 = rows[("original-onnx", "host-cpu")]
    assert abs(fp32.metrics["map"] - fp32.metrics["torch_map"]) <= 0.1  # ONNX Runtime reproduces torch
    assert [r.batch for r in fp32.latency] == [1]  # a static-batch graph is timed at the batch it takes
    distill = next(r for r in report.stages if r.kind == "distill")
    assert distill.metrics["history"][0]["loss"] > 0  # the detection KD terms trained the student
    quantize = next(r for r in report.stages if r.kind == "quantize")
    assert quantize.metrics["batchnorm"]["folded"] == 4  # found in nn.Sequential: torch.fx cannot trace it
    schemes = {s["scheme"]: s for s in quantize.metrics["schemes"]}
    assert set(schemes) == {"onnxruntime-cpu", "tensorrt"}
    for scheme in schemes.values():
        assert scheme["parity"]["passed"], scheme["parity"]["reason"]
        assert scheme["qdq_nodes"] > 0
    cpu = next(a for r in report.stages for a in r.outputs if a.name == "int8-ort-cpu")
    graph = onnx.load(cpu.path).graph
    producers = {o: n for n in graph.node for o in n.output}
    tanh = [n for n in graph.node if n.op_type == "Tanh"]
    assert tanh and all(producers[n.input[0]].op_type != "DequantizeLinear" for n in tanh)  # decoding stays float
    assert ("int8-tensorrt", "jetson-orin-nano-8gb") in rows and ("int8-ort-cpu", "host-cpu") in rows
    html = next((tmp_path / "runs").rglob("report.html")).read_text()
    assert "Per-class AP" in html and "AP@0.5:0.95 (%)" in html  # the task's own section, with its dot plot


@pytest.mark.parametrize("stage", ["{type: distill, epochs: 1, alpha: 0.5}", "{type: finetune, epochs: 1}",
                                   "{type: prune, target_macs: 0.6, finetune: {epochs: 1}}"])
def test_labels_loss_unknown_for_a_user_detector(tmp_path: Path, stage: str) -> None:
    with pytest.raises(RecipeError, match=r"alpha: 1\.0"):
        compress(_recipe(tmp_path, f"stages=[{stage}]"))
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_shufflenet_blocks_prune_around_the_shuffle(tmp_path: Path) -> None:
    """The branches' internal channels go; the layers feeding a shuffle and the head stay; ONNX matches torch."""
    report = compress(_recipe(tmp_path, "stages=[{type: prune, target_macs: 0.8, recalibrate_bn: 2}]",
                              "validate.batch_sizes=[1]", "validate.devices=[host-cpu]",
                              arch="TinyShuffleV2Detector"))
    prune = next(r for r in report.stages if r.kind == "prune")
    assert prune.metrics["channel_split_layers"] >= 6  # stem and each block's last 1x1 conv, with their BatchNorms
    assert prune.metrics["macs_fraction"] <= 0.8
    pruned = next(a for a in prune.outputs if a.format == "torch")
    assert pruned.macs is not None and pruned.macs < 0.85 * report.stages[0].outputs[0].macs
    rows = {v.artifact: v for v in report.validations if v.device == "host-cpu"}
    assert set(rows) == {"original-onnx", "pruned-onnx"}
    assert abs(rows["pruned-onnx"].metrics["map"] - rows["pruned-onnx"].metrics["torch_map"]) <= 0.1  # ONNX = torch
    assert rows["pruned-onnx"].model_size_mb < 0.8 * rows["original-onnx"].model_size_mb


def test_nothing_left_to_prune_is_refused_before_work(tmp_path: Path) -> None:
    """With the only group clear of the shuffle ignored, every channel left passes a shuffle: refused in one line."""
    with pytest.raises(RecipeError, match="every channel group passes a channel shuffle"):
        compress(_recipe(tmp_path, "stages=[{type: prune, target_macs: 0.6, ignored_layers: [net.down]}]"))
    assert not (tmp_path / "runs").exists()


def test_batch_baked_into_the_graph_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EdgecvError, match=r"export.dynamic_batch: false"):
        compress(_recipe(tmp_path, "export.dynamic_batch=true", "stages=[]"))


def test_decoding_only_for_detection(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"model\.decoding describes a detector"):
        _recipe(tmp_path, "task=classification")
