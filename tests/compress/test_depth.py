"""Depth pruning removes whole residual blocks, the one that changes the predictions least first."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet18

from edgecv.compress.depth import removable_blocks, remove_blocks
from edgecv.models import build_model


def _resnet20() -> nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10).eval()
    with torch.no_grad():  # give BatchNorm non-trivial statistics so blocks differ from one another
        model.train()
        model(torch.randn(64, 3, 32, 32))
        model.eval()
    return model


def test_only_identity_shortcut_blocks_are_candidates() -> None:
    # ResNet20: 9 blocks, 2 of them change the shape (option-A shortcut); resnet18: 8 blocks, 3 downsample;
    # mobilenet_v2: 17 inverted residuals, 10 with a residual connection
    assert len(removable_blocks(_resnet20())) == 7
    assert "layer2.0" not in removable_blocks(_resnet20())
    assert len(removable_blocks(resnet18())) == 5
    assert len(removable_blocks(mobilenet_v2())) == 10


def test_a_block_that_computes_nothing_goes_first_and_changes_nothing() -> None:
    model = _resnet20()
    with torch.no_grad():  # layer2.1's residual branch outputs exactly zero
        model.layer2[1].bn2.weight.zero_()
        model.layer2[1].bn2.bias.zero_()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    removed = remove_blocks(model, 1, torch.randn(32, 3, 32, 32))
    assert removed[0]["block"] == "layer2.1" and removed[0]["kl_divergence"] == pytest.approx(0.0, abs=1e-6)
    assert isinstance(model.layer2[1], nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, atol=1e-5, rtol=0)


def test_greedy_pick_is_the_least_divergent_single_removal() -> None:
    images = torch.randn(32, 3, 32, 32)
    reference = _resnet20()
    with torch.no_grad():
        base = reference(images).log_softmax(1)
    divergences = {}
    for name in removable_blocks(reference):
        trial = _resnet20()
        parent, _, index = name.rpartition(".")
        trial.get_submodule(parent)[int(index)] = nn.Identity()
        with torch.no_grad():
            logp = trial(images).log_softmax(1)
        divergences[name] = float(nn.functional.kl_div(logp, base, log_target=True, reduction="batchmean"))
    model = _resnet20()
    removed = remove_blocks(model, 2, images)
    assert removed[0]["block"] == min(divergences, key=divergences.__getitem__)
    assert removed[0]["kl_divergence"] == pytest.approx(min(divergences.values()), rel=1e-4)
    assert removed[1]["block"] != removed[0]["block"]
    assert sum(isinstance(m, nn.Identity) and n.count(".") == 1 for n, m in model.named_modules()) == 2
    assert model(images).shape == (32, 10)


def test_kept_blocks_stay_and_too_many_is_an_error() -> None:
    model = _resnet20()
    removed = remove_blocks(model, 3, torch.randn(16, 3, 32, 32), keep=["layer1", "layer3.1"])
    assert all(str(r["block"]).startswith("layer") and not str(r["block"]).startswith("layer1") for r in removed)
    assert "layer3.1" not in [r["block"] for r in removed]
    with pytest.raises(ValueError, match="only 4 residual blocks"):
        remove_blocks(_resnet20(), 5, torch.randn(8, 3, 32, 32), keep=["layer1"])
