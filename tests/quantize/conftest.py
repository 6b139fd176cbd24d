"""A trained tiny residual model on the embedded digits, with a run context, shared by the quantization tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgecv.artifacts import StageResult
from edgecv.devices import load_device
from edgecv.preflight import preflight
from edgecv.recipe import parse_recipe
from edgecv.stages.base import CurrentModel, RunContext, save_torch_artifact
from edgecv.stages.quantize import QuantizeParams
from edgecv.training import train_model
from tests.conftest import tiny_recipe_data

TINY_ARCH = "tests.quantize.tiny_models:tiny_resnet"


@dataclass
class Tiny:
    """A trained TinyResNet, its run context, and a way to run the quantize stage on it."""

    ctx: RunContext
    current: CurrentModel
    root: Path

    def run(
        self, folder: str, devices: tuple[str, ...] = ("host-cpu",), module: Any = None, **params: Any
    ) -> StageResult:
        from edgecv.stages.quantize import QuantizeStage

        ctx = dataclasses.replace(self.ctx, devices=[load_device(d) for d in devices])
        current = CurrentModel(artifact=self.current.artifact, module=module or self.current.module)
        path = self.root / folder
        path.mkdir(parents=True, exist_ok=True)
        return QuantizeStage(QuantizeParams(type="quantize", **params)).run(ctx, current, path)


def build_tiny(root: Path) -> Tiny:
    data = tiny_recipe_data(
        root, model={"arch": TINY_ARCH},
        train={"epochs": 5, "lr": 0.003, "optimizer": "adamw", "warmup_epochs": 0.5, "batch_size": 16},
        data={"calibration_size": 64, "max_val_samples": 150, "selection_fraction": 0.2},
        export={"parity": {"samples": 100}},
    )
    recipe = parse_recipe(data, "tiny.yaml", root)
    devices, splits, pre, spec, model = preflight(recipe)
    train_model(model, splits, pre, recipe.train, workdir=root / "train")
    ctx = RunContext(recipe=recipe, run_dir=root, splits=splits, devices=devices, preprocessing=pre,
                     input_spec=spec, initial_model=model)
    (root / "00-load").mkdir(exist_ok=True)
    artifact = save_torch_artifact(model, root / "00-load", "original", ctx, parent=None, arch=TINY_ARCH)
    ctx.results.append(StageResult(stage="00-load", kind="load", outputs=[artifact]))
    return Tiny(ctx=ctx, current=CurrentModel(artifact=artifact, module=model.eval()), root=root)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """The trained tiny model (trained once per test session)."""
    return build_tiny(tmp_path_factory.mktemp("tiny"))
