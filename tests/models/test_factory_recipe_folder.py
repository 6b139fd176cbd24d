"""``model.arch: my_nets.cnn:make_net`` finds ``my_nets`` beside the recipe (not only through PYTHONPATH), for the
model, a distillation teacher and the run files' safe-load allow-list."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from edgecv.errors import ModelError
from edgecv.preflight import build_initial_model
from edgecv.recipe import load_recipe
from edgecv.safe_load import check_run_module, load_run_module
from edgecv.stages.distill import build_teacher
from edgecv.stages.params import DistillSettings

NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)


def make_net(num_classes: int, width: int = 8) -> nn.Module:
    return Net(num_classes, width)
"""


def _recipe(tmp_path: Path, package: str, arch: str) -> Path:
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "cnn.py").write_text(NET)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "user", "model": {"arch": arch}}))
    return path


def test_a_module_beside_the_recipe_builds_teaches_and_loads_back(tmp_path: Path) -> None:
    package = f"nets_{tmp_path.name}".replace("-", "_")
    recipe = load_recipe(_recipe(tmp_path, package, f"{package}.cnn:make_net"))
    before = list(sys.path)
    model = build_initial_model(recipe, num_classes=5)
    assert model(torch.zeros(2, 3, 4, 4)).shape == (2, 5)
    assert sys.path == before  # the folder was on sys.path only for the import
    teacher = build_teacher(recipe, DistillSettings(teacher={"source": "model", "arch": f"{package}.cnn:Net"}), 5,
                            "stages[0]")
    assert type(teacher).__module__ == f"{package}.cnn"
    saved = tmp_path / "model.pt"
    torch.save(model, saved)
    check_run_module(saved)  # the package found this way is on the allow-list of the run's own files
    assert isinstance(load_run_module(saved), torch.nn.Module)


def test_a_missing_module_names_the_folders_searched(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(tmp_path, "present_pkg", "absent_pkg_xyz.cnn:make_net"))
    with pytest.raises(ModelError, match="cannot be imported") as caught:
        build_initial_model(recipe, num_classes=5)
    message = str(caught.value)
    assert str(tmp_path) in message and "PYTHONPATH" in message and "beside the recipe" in message
    assert "\n" not in message
