"""Torch-Pruning prunes the CIFAR ResNets through their option-A shortcuts with edgecv's rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch_pruning as tp

from edgecv.models import build_model
from edgecv.models.cifar_resnet import ChannelSelectConv, PadShortcut
from edgecv.models.pruning import customized_pruners, finalize_pruned


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


def _gather_shortcut_resnet20() -> torch.nn.Module:
    """A ResNet20 whose residual channels are pruned, so its option-A shortcuts map channels as a gather."""
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10).eval()
    _prune(model, 0.5)
    assert any(isinstance(m, PadShortcut) and m.pads is None for m in model.modules())
    return model


def test_finalize_pruned_turns_gather_shortcuts_into_exact_frozen_convs() -> None:
    model = _gather_shortcut_resnet20()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    assert finalize_pruned(model) == 2
    convs = [m for m in model.modules() if isinstance(m, ChannelSelectConv)]
    assert len(convs) == 2 and not any(isinstance(m, PadShortcut) for m in model.modules())
    assert all(not p.requires_grad for c in convs for p in c.parameters())
    assert all(float(c.weight.sum(dim=(1, 2, 3)).max()) == 1.0 for c in convs)  # one-hot rows (or zero rows)
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, atol=1e-5, rtol=0)


def test_unpruned_shortcuts_stay_slice_and_pad() -> None:
    model = build_model("resnet20", num_classes=10)
    assert finalize_pruned(model) == 0
    assert sum(isinstance(m, PadShortcut) for m in model.modules()) == 2


@pytest.mark.filterwarnings("ignore")
def test_pruned_int8_resnet_runs_as_one_nhwc_int8_chain(tmp_path: Path) -> None:
    """Gather shortcuts kept ORT's INT8 graph float around them with a Transpose at every conv (measured: 37)."""
    import nncf

    from edgecv.artifacts import InputSpec
    from edgecv.quantize.nncf_ptq import Calibration
    from edgecv.quantize.onnx_export import quantize_to_onnx
    from edgecv.quantize.onnx_graph import ort_fusion

    model = _gather_shortcut_resnet20()
    finalize_pruned(model)
    path = tmp_path / "int8.onnx"
    batches = [torch.randn(16, 3, 32, 32) for _ in range(2)]
    quantize_to_onnx(model, InputSpec(shape=(3, 32, 32)), Calibration(nncf.Dataset(batches), 2, 32),
                     "onnxruntime-cpu", path)
    fusion = ort_fusion(path)
    assert fusion["float_convs"] == 0 and fusion["QLinearConv"] == fusion["convs"] == 21
    assert "Gather" not in fusion["ops"] and fusion["ops"].get("Transpose", 0) <= 2
