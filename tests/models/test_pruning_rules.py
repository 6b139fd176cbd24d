"""Torch-Pruning prunes the CIFAR ResNets through their option-A shortcuts with edgecv's rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch_pruning as tp

from edgecv.models import build_model
from edgecv.models.cifar_resnet import PadShortcut
from edgecv.models.pruning import customized_pruners


def _prune(model: torch.nn.Module, ratio: float) -> None:
    pruner = tp.pruner.MagnitudePruner(
        model,
        torch.randn(1, 3, 32, 32),
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=[model.linear],
        round_to=8,
        customized_pruners=customized_pruners(),
    )
    pruner.step()


@pytest.mark.filterwarnings("ignore:Constant folding")
def test_pruned_resnet20_runs_and_exports(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10)
    before = sum(p.numel() for p in model.parameters())
    _prune(model, 0.5)
    assert sum(p.numel() for p in model.parameters()) < before / 2
    shortcut = model.layer3[0].shortcut
    assert isinstance(shortcut, PadShortcut) and shortcut.out_planes == model.layer3[0].conv2.out_channels
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x).numpy()
    path = tmp_path / "pruned.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=13, input_names=["input"])
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_pruning_nothing_changes_nothing() -> None:
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    _prune(model, 0.0)
    with torch.no_grad():
        assert torch.allclose(model(x), want)
