"""Pruning and distillation on tiny models: smaller, still runnable and exportable, losses that behave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from edgecv.api import compress
from edgecv.artifacts import InputSpec
from edgecv.compress.distillation import Distiller, kd_loss
from edgecv.compress.pruning import ChannelPruner
from edgecv.compress.sparsity import apply_2_4, enforce_2_4, sparsity_2_4_report
from edgecv.errors import RecipeError
from edgecv.export.onnx import export_onnx
from edgecv.models import build_model
from edgecv.stages.distill import teacher_warnings
from tests.conftest import write_recipe


def test_resnet20_pruned_to_half_the_macs_runs_and_exports(tmp_path: Path) -> None:
    model = build_model("resnet20", 10)
    pruner = ChannelPruner(model, torch.zeros(1, 3, 32, 32), importance="l2", round_to=8)
    assert pruner.prune_until(macs_fraction=0.5)
    assert 0.3 < pruner.macs_fraction() <= 0.5
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    path = export_onnx(model, InputSpec(shape=(3, 32, 32)), tmp_path / "pruned.onnx", opset=17)
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_ratio_pruning_keeps_the_head_whole() -> None:
    model = build_model("small_cnn", 7)
    ChannelPruner(model, torch.zeros(1, 3, 32, 32), ratio=0.5, round_to=8).prune_ratio()
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert head.out_features == 7
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 7)


def test_2_4_sparsity_pattern_survives_an_update() -> None:
    layer = nn.Sequential(nn.Conv2d(8, 16, 3), nn.Flatten(), nn.LazyLinear(4))
    layer(torch.zeros(1, 8, 6, 6))
    fraction = apply_2_4(layer)
    assert fraction == pytest.approx(0.5)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(1.0)  # an optimizer step would refill the zeros
    enforce_2_4(layer)
    report = sparsity_2_4_report(layer)
    assert report["pattern_ok"] and report["layers"] == 2


def test_kd_loss_is_zero_for_identical_logits_and_positive_otherwise() -> None:
    logits = torch.randn(4, 10)
    assert kd_loss(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-5)
    assert kd_loss(logits, torch.randn(4, 10), 4.0).item() > 0


def test_feature_distillation_adapter_matches_teacher_channels() -> None:
    student = build_model("resnet20", 10)
    ChannelPruner(student, torch.zeros(1, 3, 32, 32), ratio=0.5, round_to=8).prune_ratio()
    teacher = build_model("resnet20", 10)
    distiller = Distiller(student, teacher, temperature=2.0, alpha=0.5, features=[("layer3", "layer3", 1.0)],
                          example=torch.zeros(1, 3, 32, 32))
    (adapter,) = distiller.adapters
    assert adapter.out_channels == 64 and adapter.in_channels < 64
    images = torch.randn(2, 3, 32, 32)
    loss = distiller.loss(images, student(images))
    loss.backward()
    assert loss.item() > 0 and adapter.weight.grad is not None
    distiller.close()


def test_prune_then_distill_pipeline_reports_smaller_model(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path, train={"epochs": 2, "lr": 0.05},
        stages=[{"type": "prune", "target_macs": 0.5, "round_to": 8},
                {"type": "distill", "epochs": 1, "temperature": 2.0, "features": [
                    {"student": "features.2", "teacher": "features.2"}]}],
    )
    report = compress(path)
    kinds = [s.kind for s in report.stages]
    assert kinds == ["load", "train", "prune", "distill", "export-onnx", "validate"]
    trained, pruned = report.stages[1].output, report.stages[2].output
    assert pruned.macs <= 0.5 * trained.macs and pruned.params < trained.params
    assert {v.artifact for v in report.validations} == {"trained-onnx", "distilled-onnx"}
    assert all(p.passed for p in report.parity)
    distilled = report.stages[3].metrics
    assert distilled["teacher"] == report.stages[1].metrics["top1"]  # the teacher: the trained model


def test_a_student_that_beats_its_teacher_is_flagged() -> None:
    flagged = teacher_warnings({"top1": 86.44, "teacher": 83.02, "alpha": 0.9})
    assert len(flagged) == 1 and "beat its teacher" in flagged[0] and "train.epochs" in flagged[0]
    assert teacher_warnings({"top1": 83.2, "teacher": 83.02, "alpha": 0.9}) == []
    assert teacher_warnings({"top1": 86.44, "teacher": 83.02, "alpha": 0.0}) == []  # labels only: no teacher


def test_prune_without_a_target_is_a_recipe_error(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, stages=[{"type": "prune"}])
    with pytest.raises(RecipeError, match=r"stages\[0\].*ratio, target_macs or target_params"):
        compress(path)


def test_2_4_sparsity_needs_a_device_that_runs_it(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, stages=[{"type": "prune", "ratio": 0.25, "sparsity_2_4": True}])
    with pytest.raises(RecipeError, match=r"sparsity_2_4.*Orin"):
        compress(path)
