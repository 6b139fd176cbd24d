"""CIFAR ResNets: the option-A shortcut, and strict loading of the shared akamaster checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgecv.models import build_model
from edgecv.models.checkpoint import extract_state_dict, read_checkpoint
from edgecv.models.cifar_resnet import CifarResNet, PadShortcut, cifar_resnet

SHARED_MODELS = Path(__file__).parents[2].parent / "shared" / "models"


def test_pad_shortcut_subsamples_and_pads_channels() -> None:
    x = torch.randn(2, 16, 8, 8)
    out = PadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()


def test_pad_shortcut_with_a_pruned_mapping_gathers() -> None:
    shortcut = PadShortcut(4, 8, stride=2)
    shortcut.set_source([-1, 3, -1, 0, -1], in_planes=4)
    x = torch.randn(1, 4, 4, 4)
    out = shortcut(x)
    assert shortcut.pads is None and out.shape == (1, 5, 2, 2)
    assert torch.equal(out[:, 1], x[:, 3, ::2, ::2]) and torch.equal(out[:, 3], x[:, 0, ::2, ::2])
    assert not out[:, [0, 2, 4]].any()


def test_blocks_that_change_shape_use_pad_shortcut_without_state() -> None:
    model = cifar_resnet(20)
    shortcuts = [m for m in model.modules() if isinstance(m, PadShortcut)]
    assert len(shortcuts) == 2
    assert not any(k.startswith(("layer2.0.shortcut", "layer3.0.shortcut")) for k in model.state_dict())


def test_depth_must_be_6n_plus_2() -> None:
    with pytest.raises(ValueError, match="6n"):
        CifarResNet(21)


def test_module_names_match_akamaster_layout() -> None:
    keys = set(cifar_resnet(20).state_dict())
    assert {
        "conv1.weight",
        "bn1.running_var",
        "layer3.2.conv2.weight",
        "layer1.0.bn2.bias",
        "linear.weight",
    } <= keys


def test_shared_resnet20_checkpoint_loads_strictly(shared_resnet20: Path) -> None:
    model = build_model("resnet20", num_classes=10, checkpoint=shared_resnet20)
    saved = extract_state_dict(read_checkpoint(shared_resnet20), shared_resnet20)
    assert saved.keys() <= model.state_dict().keys()
    for key, value in saved.items():
        assert torch.equal(model.state_dict()[key], value), key
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("depth", [32, 56])
def test_other_shared_checkpoints_load(depth: int) -> None:
    path = SHARED_MODELS / f"cifar10-resnet{depth}-akamaster.th"
    if not path.is_file():
        pytest.skip(f"shared checkpoint {path} is absent")
    build_model(f"resnet{depth}", num_classes=10, checkpoint=path)
