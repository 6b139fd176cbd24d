"""Shared fixtures: tiny recipes on the embedded digits, the shared data folder when present."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def import_beside(folder: Path, module: str) -> ModuleType:
    """Import ``module`` from ``folder`` as a user's model code is imported (the folder on sys.path for the import
    only)."""
    import importlib
    import sys

    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(folder))


def tiny_recipe_data(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """A recipe that trains small_cnn for one short epoch on 300 digits at 16x16 and validates on the host."""
    data: dict[str, Any] = {
        "name": "tiny",
        "model": {"arch": "small_cnn"},
        "data": {"digits_size": 16, "max_train_samples": 300, "max_val_samples": 120, "batch_size": 32},
        "train": {"epochs": 1, "lr": 0.05},
        "export": {"parity": {"samples": 32}},
        "validate": {"devices": ["host-cpu"], "batch_sizes": [1, 4], "warmup": 1, "runs": 3},
        "report": {"formats": ["json", "md"]},
        "output": str(tmp_path / "runs"),
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def write_recipe(tmp_path: Path, name: str = "recipe.yaml", **sections: Any) -> Path:
    """Write a tiny recipe (see tiny_recipe_data) to ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tiny_recipe_data(tmp_path, **sections), sort_keys=False))
    return path


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return write_recipe(tmp_path)


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "models").is_dir():
        pytest.skip("../shared (CIFAR-10 data and checkpoints) is not present")
    return SHARED
