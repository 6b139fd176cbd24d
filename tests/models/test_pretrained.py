"""Pretrained weights come from the local torch hub cache only, with the classifier resized when asked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from edgecv.errors import ModelError
from edgecv.models import build_model, model_entry


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub folder; returns its checkpoints/ folder."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    return tmp_path / "checkpoints"


def _cache(name: str, folder: Path) -> dict[str, torch.Tensor]:
    """Save a random model with the pretrained class count where the hub cache would hold its weights."""
    entry = model_entry(name)
    assert entry is not None and entry.pretrained_file and entry.pretrained_classes
    torch.manual_seed(0)
    state = entry.factory(num_classes=entry.pretrained_classes).state_dict()
    torch.save(state, folder / entry.pretrained_file)
    return state


@pytest.mark.parametrize(
    ("name", "file"), [("resnet18", "resnet18-f37072fd.pth"), ("resnet20", "resnet20-12fca82f.th")]
)
def test_missing_cached_weights_say_where_to_put_them(hub_dir: Path, name: str, file: str) -> None:
    with pytest.raises(ModelError, match="never downloads") as info:
        build_model(name, num_classes=7, pretrained=True)
    assert str(hub_dir / file) in str(info.value)
    assert info.value.field == "model.pretrained"


def test_model_without_pretrained_weights(hub_dir: Path) -> None:
    with pytest.raises(ModelError, match="small_cnn has no pretrained weights"):
        build_model("small_cnn", num_classes=10, pretrained=True)


@pytest.mark.parametrize(("name", "head"), [("squeezenet1_1", "classifier.1"), ("mobilenet_v3_small", "classifier.3")])
def test_cached_torchvision_weights_load_with_a_new_head(hub_dir: Path, name: str, head: str) -> None:
    saved = _cache(name, hub_dir)
    with pytest.warns(UserWarning, match=f"1000 classes.*except {head}"):
        model = build_model(name, num_classes=7, pretrained=True)
    own = model.state_dict()
    for key, value in saved.items():
        if key.startswith(head + "."):
            assert own[key].shape[0] == 7
        else:
            assert torch.equal(own[key], value), key
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_cached_weights_with_matching_classes_load_whole(hub_dir: Path, recwarn: pytest.WarningsRecorder) -> None:
    saved = _cache("squeezenet1_1", hub_dir)
    model = build_model("squeezenet1_1", num_classes=1000, pretrained=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert not [w for w in recwarn if "classes" in str(w.message)]


def test_corrupt_cached_weights(hub_dir: Path) -> None:
    path = hub_dir / "squeezenet1_1-b8a52dc0.pth"
    path.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(ModelError, match="cannot be loaded") as info:
        build_model("squeezenet1_1", num_classes=1000, pretrained=True)
    assert str(path) in str(info.value) and info.value.field == "model.pretrained"


def test_cifar_pretrained_from_the_cache(hub_dir: Path, shared_resnet20: Path) -> None:
    shutil.copy(shared_resnet20, hub_dir / "resnet20-12fca82f.th")
    reference = build_model("resnet20", num_classes=10, checkpoint=shared_resnet20)
    model = build_model("resnet20", num_classes=10, pretrained=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())
    with pytest.warns(UserWarning, match="except linear"):
        five = build_model("resnet20", num_classes=5, pretrained=True)
    assert five.linear.out_features == 5
    assert torch.equal(five.conv1.weight, reference.conv1.weight)
