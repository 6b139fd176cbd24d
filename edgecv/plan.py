"""The steps a recipe runs, and the check of all of them before any work.

A run is: load, train (when ``train.epochs`` > 0), the recipe's ``stages:`` in order, export-onnx, validate, and
deploy (when ``export.bundles`` lists devices). :func:`check_plan` runs every stage's own check in that order and
follows the format of the current model from one stage to the next, so a recipe that cannot run is refused in
one line before a run folder exists.

Example::

    steps = plan(recipe)            # [("00-load", LoadStage), ("01-train", TrainStage), ...]
    check_plan(recipe, devices, model)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgecv.registry import stage_class
from edgecv.stages.contract import Stage, StageCheck, format_error

if TYPE_CHECKING:
    from torch import nn

    from edgecv.devices import DeviceProfile
    from edgecv.recipe import Recipe


@dataclass
class Step:
    """One step of a run: its folder name, the recipe key that configures it, and the stage instance."""

    folder: str
    key: str
    stage: Stage


def plan_steps(recipe: Recipe) -> list[Step]:
    """The steps of ``recipe``, in the order they run (see the module docstring)."""
    entries: list[tuple[str, str, Any]] = [("load", "model", None)]
    if recipe.train.epochs > 0:
        entries.append(("train", "train", recipe.train))
    entries += [(params.type, f"stages[{i}]", params) for i, params in enumerate(recipe.stages)]
    entries += [("export-onnx", "export", recipe.export), ("validate", "validate", recipe.validate_)]
    if recipe.export.bundles:
        entries.append(("deploy", "export.bundles", recipe.export))  # after validation measured their accuracy
    return [
        Step(f"{index:02d}-{kind}", key, stage_class(kind)(params))
        for index, (kind, key, params) in enumerate(entries)
    ]


def plan(recipe: Recipe) -> list[tuple[str, Stage]]:
    """The stages a recipe runs, with their folder names."""
    return [(step.folder, step.stage) for step in plan_steps(recipe)]


def check_plan(recipe: Recipe, devices: list[DeviceProfile], model: nn.Module | None) -> None:
    """Every stage's check, in order, and the model format each stage is handed (RecipeError on the first fault)."""
    from edgecv.models import model_entry

    entry = model_entry(recipe.model.arch)
    current, made_by, before = "torch", "load", []
    for step in plan_steps(recipe):
        stage = step.stage
        if before and current not in stage.accepts:
            raise format_error(stage.kind, stage.accepts, current, made_by, step.key)
        stage.check(stage.params, StageCheck(recipe, devices, model, entry, step.key, list(before)))
        if stage.produces is not None:
            current, made_by = stage.produces, stage.kind
        before.append(stage.kind)
