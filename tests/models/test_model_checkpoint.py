"""Checkpoint loading: every accepted layout loads; each failure is a ModelError naming the file and fix."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from edgecv.errors import ModelError
from edgecv.models import build_model
from edgecv.models.checkpoint import load_checkpoint
from edgecv.recipe import ModelSection


def _assert_loaded(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = model.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key], value), key


@pytest.mark.parametrize("wrapper", [None, "state_dict", "model", "model_state_dict"])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_layouts_load(
    tmp_path: Path, resnet20_state: dict[str, torch.Tensor], wrapper: str | None, prefix: str
) -> None:
    state = {prefix + k: v for k, v in resnet20_state.items()}
    path = tmp_path / "ckpt.pt"
    torch.save(state if wrapper is None else {wrapper: state, "epoch": 3}, path)
    _assert_loaded(build_model("resnet20", num_classes=10, checkpoint=path), resnet20_state)


class _Payload:
    """Unpickling it runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_whole_pickled_module_is_refused_without_the_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(build_model("resnet20", num_classes=10), path)
    with pytest.raises(ModelError) as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "refused" in message
    assert "CifarResNet" in message and "torch.save(model.state_dict(), path)" in message
    assert "safetensors" in message and "model.trust_checkpoint: true" in message
    assert info.value.field == "model.checkpoint"


def test_whole_pickled_module_loads_when_trusted(tmp_path: Path) -> None:
    source = build_model("resnet20", num_classes=10)
    path = tmp_path / "whole.pt"
    torch.save(source, path)
    _assert_loaded(build_model("resnet20", num_classes=10, checkpoint=path, trust_checkpoint=True), source.state_dict())


def test_extra_python_objects_need_the_opt_in(tmp_path: Path, resnet20_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "with_args.pt"
    torch.save({"state_dict": resnet20_state, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(ModelError, match=r"refused: it pickles Python objects \(argparse.Namespace\)"):
        build_model("resnet20", num_classes=10, checkpoint=path)
    _assert_loaded(build_model("resnet20", num_classes=10, checkpoint=path, trust_checkpoint=True), resnet20_state)


@pytest.mark.parametrize("zipped", [True, False])
def test_reduce_payload_next_to_the_weights_never_runs(
    tmp_path: Path, resnet20_state: dict[str, torch.Tensor], zipped: bool
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "payload.pt"
    torch.save({"state_dict": resnet20_state, "extra": _Payload(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(ModelError, match=r"refused: it pickles Python objects \(\w+\.system\)") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def test_torchscript_is_refused_without_the_opt_in_and_loads_with_it(tmp_path: Path) -> None:
    source = build_model("small_cnn", num_classes=10)
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, but users still have such files
        torch.jit.save(torch.jit.trace(source, torch.zeros(1, 3, 32, 32)), str(path))
    with pytest.raises(ModelError, match="refused: it is a TorchScript archive") as info:
        build_model("small_cnn", num_classes=10, checkpoint=path)
    assert "corrupt" not in str(info.value) and "model.trust_checkpoint: true" in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = build_model("small_cnn", num_classes=10, checkpoint=path, trust_checkpoint=True)
    _assert_loaded(model, source.state_dict())


@pytest.mark.parametrize("name", ["weights.safetensors", "weights.pt"])
def test_safetensors_load_by_extension_or_content(
    tmp_path: Path, resnet20_state: dict[str, torch.Tensor], name: str
) -> None:
    path = tmp_path / name
    save_file({"module." + k: v.contiguous() for k, v in resnet20_state.items()}, str(path))
    _assert_loaded(build_model("resnet20", num_classes=10, checkpoint=path), resnet20_state)


def test_corrupt_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ModelError, match="not a readable safetensors file") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, resnet20_state: dict[str, torch.Tensor], bad: float) -> None:
    state = {k: v.clone() for k, v in resnet20_state.items()}
    state["layer2.0.conv1.weight"][0, 0, 0, 0] = bad
    state["linear.weight"][0, 0] = bad
    path = tmp_path / "diverged.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"NaN or Inf in 'layer2.0.conv1.weight'") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert str(path) in str(info.value) and "linear" not in str(info.value)


def test_trust_checkpoint_is_an_explicit_opt_in() -> None:
    field = ModelSection.model_fields["trust_checkpoint"]
    assert field.default is False
    assert "arbitrary code" in (field.description or "")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pt"
    with pytest.raises(ModelError, match="does not exist") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert str(path) in str(info.value) and "check model.checkpoint" in str(info.value)
    assert info.value.field == "model.checkpoint"


def test_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a file"):
        build_model("resnet20", num_classes=10, checkpoint=tmp_path)


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint \x00\x01\x02" * 10)
    with pytest.raises(ModelError, match="not a readable PyTorch file") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert str(path) in str(info.value) and "torch.save(model.state_dict()" in str(info.value)
    assert info.value.field == "model.checkpoint"


def test_truncated_zip(tmp_path: Path, resnet20_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "truncated.pt"
    torch.save(resnet20_state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="not a readable PyTorch file") as info:
        build_model("resnet20", num_classes=10, checkpoint=path)
    assert str(path) in str(info.value)


def test_wrong_architecture_lists_keys_and_the_fix(tmp_path: Path, resnet20_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "r20.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in resnet20_state.items()}}, path)
    with pytest.raises(ModelError) as info:
        build_model("resnet32", num_classes=10, checkpoint=path)
    message = str(info.value)
    assert str(path) in message and "resnet32" in message
    assert "missing keys (layer1.3." in message and "more" in message
    assert "check model.arch and model.num_classes" in message
    assert info.value.field == "model.checkpoint"


def test_shared_checkpoint_into_wrong_depth(shared_resnet20: Path) -> None:
    with pytest.raises(ModelError, match=r"check model\.arch and model\.num_classes") as info:
        build_model("resnet32", num_classes=10, checkpoint=shared_resnet20)
    assert str(shared_resnet20) in str(info.value)


def test_wrong_num_classes_shows_shapes(tmp_path: Path, resnet20_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "r20.pt"
    torch.save(resnet20_state, path)
    with pytest.raises(ModelError, match=r"linear.weight: checkpoint \(10, 64\) vs model \(7, 64\)") as info:
        build_model("resnet20", num_classes=7, checkpoint=path)
    assert "2 shape mismatches" in str(info.value) and "missing" not in str(info.value)


def test_unexpected_keys_are_listed(tmp_path: Path, resnet20_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "extra.pt"
    torch.save({**resnet20_state, "head.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match=r"1 unexpected key \(head.weight\)"):
        build_model("resnet20", num_classes=10, checkpoint=path)


def test_dict_without_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "best": 0.9}, path)
    with pytest.raises(ModelError, match=r"without a state_dict.*'epoch'"):
        build_model("resnet20", num_classes=10, checkpoint=path)


def test_pickled_module_of_unimportable_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gone_net_mod.py").write_text(
        "import torch\nclass GoneNet(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(2, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_net_mod  # type: ignore[import-not-found]

    path = tmp_path / "gone.pt"
    torch.save(gone_net_mod.GoneNet(), path)
    monkeypatch.delitem(sys.modules, "gone_net_mod")
    (tmp_path / "gone_net_mod.py").unlink()
    with pytest.raises(ModelError, match=r"refused: it pickles Python objects \(gone_net_mod.GoneNet\)"):
        load_checkpoint(torch.nn.Linear(2, 2), path)
    with pytest.raises(ModelError, match=r"cannot be imported.*state_dict"):
        load_checkpoint(torch.nn.Linear(2, 2), path, trust=True)
