"""A user's own network by import path ``package.module:factory``."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from edgecv.errors import ModelError
from edgecv.models import build_model

MODULE = "edgecv_test_user_nets"
SOURCE = """
import functools

import numpy
import torch
from torch import nn

NOT_CALLABLE = 3

def make_net(num_classes, width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, width), nn.ReLU(), nn.Linear(width, num_classes))

def fixed_net():
    return nn.Linear(2, 3)

def not_a_module(num_classes):
    return "a string"

def broken(num_classes):
    raise RuntimeError("boom")

class Net(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(x)

CALLS = []

def annotated_int(num_classes) -> int:
    CALLS.append("annotated_int")
    return num_classes

def annotated_none(num_classes) -> None:
    CALLS.append("annotated_none")

def annotated_optional(num_classes) -> nn.Module | None:
    return nn.Linear(2, num_classes)

def annotated_linear(num_classes) -> "nn.Linear":
    return nn.Linear(2, num_classes)

def annotated_unresolvable(num_classes) -> "NoSuchType":
    return nn.Linear(2, num_classes)

class NotAModule:
    def __init__(self, num_classes=10):
        CALLS.append("NotAModule")

class Builder:
    def __call__(self, num_classes: int) -> nn.Module:
        return nn.Linear(2, num_classes)

BUILDER = Builder()
PARTIAL = functools.partial(make_net, width=4)
NUMPY_BUILTIN = numpy.zeros
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of factories on sys.path for one test."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    (tmp_path / "edgecv_test_needs_dep.py").write_text("import edgecv_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MODULE
    sys.modules.pop(MODULE, None)
    sys.modules.pop("edgecv_test_needs_dep", None)


def test_function_factory_gets_num_classes_and_kwargs(user_module: str) -> None:
    model = build_model(f"{user_module}:make_net", num_classes=5, kwargs={"width": 16})
    assert model[1].out_features == 16
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 5)


def test_class_factory(user_module: str) -> None:
    model = build_model(f"{user_module}:Net", num_classes=6)
    assert model.fc.out_features == 6


def test_factory_without_num_classes_warns(user_module: str) -> None:
    with pytest.warns(UserWarning, match="no num_classes"):
        model = build_model(f"{user_module}:fixed_net", num_classes=3)
    assert isinstance(model, torch.nn.Linear)


def test_checkpoint_loads_into_user_model(user_module: str, tmp_path: Path) -> None:
    source = build_model(f"{user_module}:Net", num_classes=4)
    torch.save(source.state_dict(), tmp_path / "net.pt")
    model = build_model(f"{user_module}:Net", num_classes=4, checkpoint=tmp_path / "net.pt")
    assert torch.equal(model.fc.weight, source.fc.weight)


@pytest.mark.parametrize(
    ("arch", "pattern", "field"),
    [
        ("edgecv_no_such_pkg.nets:make", "cannot be imported.*PYTHONPATH", "model.arch"),
        (
            "edgecv_test_needs_dep:make",
            "module it imports is missing.*edgecv_no_such_dependency",
            "model.arch",
        ),
        (f"{MODULE}:make_nett", "has no attribute 'make_nett'; did you mean make_net", "model.arch"),
        (f"{MODULE}:NOT_CALLABLE", "is a int, not a function or class", "model.arch"),
        (f"{MODULE}:not_a_module", "returned a str, not a torch.nn.Module", "model.arch"),
        (f"{MODULE}:broken", "raised RuntimeError: boom", "model.arch"),
        (f"{MODULE}:", "not an import path", "model.arch"),
    ],
)
def test_factory_errors(user_module: str, arch: str, pattern: str, field: str) -> None:
    with pytest.raises(ModelError, match=pattern) as info:
        build_model(arch, num_classes=3)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("arch", "pattern"),
    [
        ("os:system", r"names a built-in function of Python's standard library \(posix.system\)"),
        ("builtins:eval", r"names a built-in function of Python's standard library \(builtins.eval\)"),
        ("shutil:rmtree", r"names a function of Python's standard library \(shutil.rmtree\)"),
        ("collections:OrderedDict", "names a class of Python's standard library"),
        (f"{MODULE}:NUMPY_BUILTIN", "not a Python function or class"),
        (f"{MODULE}:NotAModule", "the class .*NotAModule, which is not a torch.nn.Module subclass"),
        (f"{MODULE}:annotated_int", "annotated to return int, not a torch.nn.Module"),
        (f"{MODULE}:annotated_none", "annotated to return NoneType"),
    ],
)
def test_factories_that_cannot_build_a_module_are_refused_before_any_call(
    user_module: str, arch: str, pattern: str
) -> None:
    with pytest.raises(ModelError, match=pattern) as info:
        build_model(arch, num_classes=3)
    assert info.value.field == "model.arch" and "\n" not in str(info.value)
    assert getattr(sys.modules.get(user_module), "CALLS", []) == []


def test_os_system_never_runs(tmp_path: Path, user_module: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ModelError, match="standard library"):
        build_model("os:system", num_classes=3, kwargs={"command": f"touch {marker}"})
    assert not marker.exists()


@pytest.mark.parametrize(
    "attr", ["annotated_optional", "annotated_linear", "annotated_unresolvable", "BUILDER", "PARTIAL"]
)
def test_factories_that_may_return_a_module_are_allowed(user_module: str, attr: str) -> None:
    assert isinstance(build_model(f"{user_module}:{attr}", num_classes=3), torch.nn.Module)


def test_bad_kwargs_name_model_kwargs(user_module: str) -> None:
    with pytest.raises(ModelError, match="depth") as info:
        build_model(f"{user_module}:make_net", num_classes=3, kwargs={"depth": 2})
    assert info.value.field == "model.kwargs"


def test_pretrained_needs_a_zoo_model(user_module: str) -> None:
    with pytest.raises(ModelError, match=r"model\.checkpoint") as info:
        build_model(f"{user_module}:Net", num_classes=3, pretrained=True)
    assert info.value.field == "model.pretrained"
