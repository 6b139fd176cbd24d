"""Run files (``NN-stage/model.pt``, ``last.pt``) load back without running code from them."""

from __future__ import annotations

import os
import pickle
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from edgecv import safe_load
from edgecv.artifacts import InputSpec, Preprocessing, sha256_file
from edgecv.errors import ModelError
from edgecv.models import build_model
from edgecv.safe_load import check_run_module, load_run_module
from edgecv.stages.base import CurrentModel, save_torch_artifact

ZOO = [
    "small_cnn", "resnet20", "resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf",
    "shufflenet_v2_x0_5", "squeezenet1_1", "densenet121",
]


class UserNet(nn.Module):
    """A user's own network, defined in this test file."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _Payload:
    """Unpickling it runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no user package trusted."""
    monkeypatch.setattr(safe_load, "_user_packages", set())
    monkeypatch.setattr(safe_load, "_user_classes", {})


def _round_trip(model: nn.Module, path: Path, size: int = 32) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Save, check and load ``model`` as a run does; the loaded module and both models' outputs on one input."""
    model.eval()
    torch.save(model, path)
    check_run_module(path)
    loaded = load_run_module(path, sha256_file(path))
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        return loaded, model(x), loaded(x)


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_models_round_trip(tmp_path: Path, arch: str) -> None:
    model = build_model(arch, num_classes=10)
    loaded, before, after = _round_trip(model, tmp_path / "model.pt")
    assert type(loaded) is type(model) and torch.equal(before, after)


def test_pruned_cifar_resnet_round_trips(tmp_path: Path) -> None:
    from edgecv.compress.depth import remove_blocks
    from edgecv.compress.pruning import ChannelPruner
    from edgecv.models.cifar_resnet import ChannelSelectConv
    from edgecv.models.pruning import finalize_pruned

    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10)
    remove_blocks(model, 1, torch.randn(8, 3, 32, 32))
    ChannelPruner(model, torch.zeros(1, 3, 32, 32), ratio=0.5, round_to=8).prune_ratio()
    assert finalize_pruned(model) > 0
    kinds = {type(m) for m in model.modules()}
    assert ChannelSelectConv in kinds and nn.Identity in kinds
    loaded, before, after = _round_trip(model, tmp_path / "model.pt")
    assert type(loaded) is type(model) and torch.equal(before, after)


def test_user_module_round_trips_once_the_recipe_names_it(tmp_path: Path) -> None:
    model = build_model(f"{__name__}:UserNet", num_classes=3)  # registers this module's package as trusted
    loaded, before, after = _round_trip(model, tmp_path / "model.pt")
    assert type(loaded) is type(model) and torch.equal(before, after)


def test_class_of_a_package_the_recipe_does_not_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "edgecv_test_other_pkg.py").write_text(textwrap.dedent("""
        import torch
        class Other(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(2, 2)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import edgecv_test_other_pkg  # type: ignore[import-not-found]

    monkeypatch.setitem(sys.modules, "edgecv_test_other_pkg", edgecv_test_other_pkg)
    path = tmp_path / "model.pt"
    torch.save(edgecv_test_other_pkg.Other(), path)
    with pytest.raises(ModelError, match="edgecv cannot load back"):
        check_run_module(path)
    with pytest.raises(ModelError, match=r"refers to edgecv_test_other_pkg\.Other, which is not a torch module"):
        load_run_module(path)


def _tampered(tmp_path: Path, how: str) -> Path:
    """A model.pt carrying a payload: inside a module, alone, or in the legacy (non-zip) format."""
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    if how == "inside-module":
        model = build_model("small_cnn", num_classes=10)
        model.extra = _Payload(marker)  # type: ignore[assignment]
        torch.save(model, path)
    elif how == "alone":
        torch.save(_Payload(marker), path)
    elif how == "legacy":
        torch.save(_Payload(marker), path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(_Payload(marker)))
    return path


@pytest.mark.parametrize("how", ["inside-module", "alone", "legacy", "plain-pickle"])
def test_reduce_payload_in_model_pt_is_refused_and_never_runs(tmp_path: Path, how: str) -> None:
    path = _tampered(tmp_path, how)
    with pytest.raises(ModelError, match="was refused") as info:
        load_run_module(path, sha256_file(path))  # even with a matching hash: the attacker rewrote stage.json
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_payload_is_refused_by_torch_even_past_the_global_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _tampered(tmp_path, "inside-module")
    monkeypatch.setattr(torch.serialization, "get_unsafe_globals_in_checkpoint", lambda _path: [])
    with pytest.raises(ModelError, match="cannot be read safely"):
        load_run_module(path)
    assert not (tmp_path / "pwned").exists()


def test_changed_file_is_refused_by_its_sha256(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(build_model("small_cnn", num_classes=10), path)
    recorded = sha256_file(path)
    torch.save(build_model("small_cnn", num_classes=10), path)  # other random weights
    with pytest.raises(ModelError, match=r"was changed after the run wrote it \(sha256 .*\); start a new run") as info:
        load_run_module(path, recorded)
    assert "\n" not in str(info.value)


def test_artifact_round_trip_through_the_stage_helpers(tmp_path: Path) -> None:
    ctx: Any = SimpleNamespace(
        input_spec=InputSpec(shape=(3, 32, 32)), preprocessing=Preprocessing(size=(32, 32))
    )
    model = build_model("resnet20", num_classes=10)
    artifact = save_torch_artifact(model, tmp_path, "original", ctx, parent=None)
    loaded = CurrentModel(artifact=artifact).torch_module()
    assert torch.equal(loaded.linear.weight, model.linear.weight)
    Path(artifact.path).write_bytes(Path(artifact.path).read_bytes() + b"\0")
    with pytest.raises(ModelError, match="was changed after the run wrote it"):
        CurrentModel(artifact=artifact).torch_module()


def test_saving_a_module_that_could_not_be_loaded_back_is_an_error(tmp_path: Path) -> None:
    ctx: Any = SimpleNamespace(input_spec=InputSpec(shape=(3, 8, 8)), preprocessing=Preprocessing(size=(8, 8)))
    model = nn.Sequential(nn.Conv2d(3, 2, 3))
    model.register_forward_hook(_hook)
    with pytest.raises(ModelError, match=r"holds .*_hook.*cannot load back without running code"):
        save_torch_artifact(model, tmp_path, "original", ctx, parent=None)


def _hook(module: nn.Module, inputs: Any, output: Any) -> None:
    """A forward hook: a function the run file would have to import."""


def test_last_pt_loads_weights_only_and_a_tampered_one_is_refused(tmp_path: Path) -> None:
    from edgecv.training import _load_checkpoint

    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(), "epoch": 1, "history": [{"epoch": 1, "loss": 0.5, "val_top1": 50.0}],
        "best_top1": 50.0, "best_epoch": 1,
    }
    path = tmp_path / "last.pt"
    torch.save(state, path)
    restored = _load_checkpoint(path, nn.Linear(3, 2), optimizer, scheduler)
    assert restored["history"] == state["history"]
    torch.save({**state, "extra": _Payload(tmp_path / "pwned")}, path)
    with pytest.raises(ModelError, match=r"training checkpoint .*last\.pt was refused") as info:
        _load_checkpoint(path, nn.Linear(3, 2), optimizer, scheduler)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()
