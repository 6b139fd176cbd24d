"""The registry: names, entries, did-you-mean, building every kind of entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision import models as tv_models

from edgecv.errors import ModelError
from edgecv.models import build_model, model_entry, model_names
from edgecv.models.zoo import IMAGENET_MEAN, IMAGENET_STD

CIFAR_RESNETS = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
TORCHVISION_NAMES = [
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "shufflenet_v2_x0_5",
]


def test_names_cover_local_and_every_torchvision_model() -> None:
    names = model_names()
    assert names == sorted(names)
    assert {"small_cnn", *CIFAR_RESNETS} <= set(names)
    assert set(tv_models.list_models(module=tv_models)) <= set(names)


def test_cifar_entries_carry_their_preprocessing() -> None:
    entry = model_entry("resnet20")
    assert entry is not None
    assert (entry.family, entry.input_size, entry.mean, entry.std) == (
        "cifar-resnet",
        (32, 32),
        IMAGENET_MEAN,
        IMAGENET_STD,
    )
    assert entry.pretrained_file == "resnet20-12fca82f.th"
    assert entry.pretrained_classes == 10


def test_torchvision_entry_uses_its_weights_metadata() -> None:
    entry = model_entry("resnet18")
    assert entry is not None
    assert entry.family == "torchvision"
    assert entry.input_size == (224, 224)
    assert entry.mean == pytest.approx(IMAGENET_MEAN) and entry.std == pytest.approx(IMAGENET_STD)
    assert entry.pretrained_file == "resnet18-f37072fd.pth"
    assert entry.pretrained_classes == 1000
    efficientnet_b3 = model_entry("efficientnet_b3")
    assert efficientnet_b3 is not None and efficientnet_b3.input_size == (300, 300)


def test_import_path_has_no_entry() -> None:
    assert model_entry("my_package.nets:make_net") is None


@pytest.mark.parametrize("name", CIFAR_RESNETS)
def test_cifar_resnets_build_and_give_logits(name: str) -> None:
    model = build_model(name, num_classes=10)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert not model.training


@pytest.mark.parametrize(("name", "millions"), [("resnet20", 0.27), ("resnet32", 0.46), ("resnet56", 0.85)])
def test_cifar_resnet_parameter_counts_match_the_paper(name: str, millions: float) -> None:
    count = sum(p.numel() for p in build_model(name, num_classes=10).parameters())
    assert count / 1e6 == pytest.approx(millions, rel=0.02)


def test_small_cnn_is_small_and_aligned() -> None:
    model = build_model("small_cnn", num_classes=10)
    assert 50_000 <= sum(p.numel() for p in model.parameters()) <= 100_000
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    entry = model_entry("small_cnn")
    assert entry is not None and entry.mean == (0.5, 0.5, 0.5) and entry.input_size == (32, 32)


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_models_build_with_num_classes(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=7)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


@pytest.mark.parametrize(("typo", "expected"), [("resnt20", "resnet20"), ("mobilenetv2", "mobilenet_v2")])
def test_unknown_name_suggests_close_ones(typo: str, expected: str) -> None:
    with pytest.raises(ModelError, match="edgecv models") as info:
        build_model(typo, num_classes=10)
    assert info.value.field == "model.arch"
    assert "did you mean" in str(info.value) and repr(expected) in str(info.value)


def test_unknown_name_without_close_match_still_says_how_to_list() -> None:
    with pytest.raises(ModelError, match="Run `edgecv models` to list them"):
        model_entry("zzzzqqqq")


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_num_classes_must_be_a_positive_int(num_classes: object) -> None:
    with pytest.raises(ModelError) as info:
        build_model("resnet20", num_classes=num_classes)  # type: ignore[arg-type]
    assert info.value.field == "model.num_classes"


@pytest.mark.parametrize("key", ["num_classes", "weights"])
def test_reserved_kwargs_are_refused(key: str) -> None:
    with pytest.raises(ModelError, match=key) as info:
        build_model("resnet18", num_classes=7, kwargs={key: None})
    assert info.value.field == "model.kwargs"


def test_unknown_kwarg_names_model_kwargs() -> None:
    with pytest.raises(ModelError, match="bogus") as info:
        build_model("resnet20", num_classes=10, kwargs={"bogus": 1})
    assert info.value.field == "model.kwargs"


def test_kwargs_reach_the_factory() -> None:
    model = build_model("small_cnn", num_classes=4, kwargs={"in_channels": 1})
    with torch.no_grad():
        assert model(torch.randn(1, 1, 32, 32)).shape == (1, 4)


def test_checkpoint_and_pretrained_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="both") as info:
        build_model("resnet20", num_classes=10, checkpoint=tmp_path / "x.pt", pretrained=True)
    assert info.value.field == "model.pretrained"


def test_importing_the_package_imports_neither_torch_nor_torchvision() -> None:
    code = "import sys, edgecv.models; print('torch' in sys.modules, 'torchvision' in sys.modules)"
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.split() == ["False", "False"]
