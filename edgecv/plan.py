"""The steps a recipe runs, and the check of all of them before any work.

A run is: load, train (when ``train.epochs`` > 0), the recipe's ``stages:`` in order, export-onnx, validate, and
deploy (when ``export.bundles`` lists devices). :func:`check_plan` runs every stage's own check in that order and
follows the format of the current model from one stage to the next, so a recipe that cannot run is refused in
one line before a run folder exists. Each step carries the recipe settings it depends on and a fingerprint
chained through the steps before it, which ``--resume`` compares (:mod:`edgecv.resume`).

Example::

    steps = plan(recipe)            # [("00-load", LoadStage), ("01-train", TrainStage), ...]
    check_plan(recipe, devices, model)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgecv.errors import RecipeError
from edgecv.registry import stage_class
from edgecv.stages.contract import Stage, StageCheck, format_error

if TYPE_CHECKING:
    from torch import nn

    from edgecv.devices import DeviceProfile
    from edgecv.recipe import Recipe


@dataclass
class Step:
    """One step of a run: its folder name, the recipe key that configures it, and the stage instance.

    ``settings`` are the recipe values the step depends on (:func:`step_settings`); ``fingerprint`` digests them
    with the fingerprint of the step before, so it changes when anything a step's result depends on changes.
    """

    folder: str
    key: str
    stage: Stage
    settings: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


_EXPORT_ONLY_DEPLOY = ("bundles", "bundle_images", "tensorrt")
"""``export`` keys only the deploy step reads."""


def step_settings(recipe: Recipe, kind: str, key: str) -> dict[str, Any]:
    """The recipe settings the step of ``kind`` (configured at ``key``) depends on, by recipe key.

    A verdict's criteria are left out (``export.parity`` but its ``samples``, a quantize entry's ``parity``):
    a changed tolerance re-judges the stored comparison instead of redoing the work (see
    :mod:`edgecv.validate.parity`). Settings that only change speed (``data.workers``, threads) are left out too.
    """
    data = recipe.to_dict()
    export, devices = data["export"], {"validate.devices": data["validate"]["devices"]}
    compared = {"export.parity.samples": export["parity"]["samples"]}
    if kind in ("load", "load-onnx"):
        loaded = {k: v for k, v in data["data"].items() if k != "workers"}
        return {"task": data["task"], "seed": data["seed"], "model": data["model"], "data": loaded,
                "model_files": model_file_digests(recipe)}
    if kind == "train":
        return {"train": data["train"]}
    if kind == "export-onnx":
        kept = {k: v for k, v in export.items() if k not in (*_EXPORT_ONLY_DEPLOY, "parity")}
        return {"export": kept, **compared, **devices}
    if kind == "validate":
        return {"validate": data["validate"], "report.budgets": data["report"]["budgets"]}
    if kind == "deploy":
        return {f"export.{k}": export[k] for k in _EXPORT_ONLY_DEPLOY}
    if key.startswith("stages["):
        entry = {k: v for k, v in data["stages"][int(key[7:-1])].items() if k != "parity"}
        settings: dict[str, Any] = {key: entry, **devices}  # devices shape stages (alignment, schemes)
        if kind == "quantize":  # its exports and parity comparisons read these
            settings |= {f"export.{k}": export[k] for k in ("opset", "simplify", "dynamic_batch")} | compared
        return settings
    return {k: v for k, v in data.items() if k not in ("name", "output", "report")}  # unknown: everything


def model_file_digests(recipe: Recipe) -> dict[str, str]:
    """sha256 of the model files the recipe names (``model.checkpoint``, ``model.onnx``): a file replaced under the
    same path is another model, so ``--resume`` must not reuse what was made from the old one."""
    from edgecv.artifacts import sha256_file

    files = {"model.checkpoint": recipe.model.checkpoint, "model.onnx": recipe.model.onnx}
    return {key: sha256_file(path) for key, path in files.items() if path is not None and path.is_file()}


def fingerprint(folder: str, settings: dict[str, Any], before: str) -> str:
    """sha256 of a step's folder, its settings and the fingerprint of the step before it."""
    canonical = json.dumps({"step": folder, "settings": settings, "before": before}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_steps(recipe: Recipe) -> list[Step]:
    """The steps of ``recipe``, in the order they run (see the module docstring), with their fingerprints."""
    entries: list[tuple[str, str, Any]] = [("load-onnx" if recipe.model.onnx else "load", "model", None)]
    if recipe.train.epochs > 0:
        entries.append(("train", "train", recipe.train))
    entries += [(params.type, f"stages[{i}]", params) for i, params in enumerate(recipe.stages)]
    entries += [("export-onnx", "export", recipe.export), ("validate", "validate", recipe.validate_)]
    if recipe.export.bundles:
        entries.append(("deploy", "export.bundles", recipe.export))  # after validation measured their accuracy
    steps, before = [], ""
    for index, (kind, key, params) in enumerate(entries):
        folder, settings = f"{index:02d}-{kind}", step_settings(recipe, kind, key)
        before = fingerprint(folder, settings, before)
        steps.append(Step(folder, key, stage_class(kind)(params), settings, before))
    return steps


def plan(recipe: Recipe) -> list[tuple[str, Stage]]:
    """The stages a recipe runs, with their folder names."""
    return [(step.folder, step.stage) for step in plan_steps(recipe)]


def check_plan(recipe: Recipe, devices: list[DeviceProfile], model: nn.Module | None) -> None:
    """Every stage's check, in order, and the model format each stage is handed (RecipeError on the first fault)."""
    from edgecv.models import model_entry
    from edgecv.tasks import get_task

    task = get_task(recipe.task)
    arch = recipe.model.arch
    own = arch is None or task.model_defaults(arch) is not None  # the task builds it (a detector), or no code
    entry = None if own else model_entry(arch)  # type: ignore[arg-type]
    _check_class_weights(recipe, task)
    _check_augment(recipe, task)
    current, made_by, before = "torch", "load", []
    for step in plan_steps(recipe):
        stage = step.stage
        if recipe.model.onnx is not None and before and "onnx" not in stage.accepts:
            raise RecipeError(
                f"key '{step.key}': {stage.kind} needs the model's PyTorch code, and model.onnx is only its graph; "
                f"remove {step.key}{' (set train.epochs: 0)' if step.key == 'train' else ''}, or load the PyTorch "
                "model (model.arch + model.checkpoint)"
            )
        if stage.kind in task.unsupported_stages:
            raise RecipeError(f"key '{step.key}': {task.unsupported_stages[stage.kind]}: not supported for "
                              f"{task.name} yet; remove it")
        problem = task.stage_problem(stage.kind, stage.params, model)
        if problem is not None:
            raise RecipeError(f"key '{step.key}': {problem}")
        if before and current not in stage.accepts:
            raise format_error(stage.kind, stage.accepts, current, made_by, step.key)
        stage.check(stage.params, StageCheck(recipe, devices, model, entry, step.key, list(before)))
        if stage.produces is not None:
            current, made_by = stage.produces, stage.kind
        before.append(stage.kind)


def _check_class_weights(recipe: Recipe, task: Any) -> None:
    """``class_weights`` only where the task's loss takes them (classification, segmentation)."""
    from edgecv.launch import training_sections

    for key, params in training_sections(recipe):
        if params.class_weights != "none" and not task.weighs_classes:
            raise RecipeError(f"key '{key}.class_weights': the {task.name} loss takes no per-class weights; remove it")


def _check_augment(recipe: Recipe, task: Any) -> None:
    """``half-crop-flip`` only for segmentation: a crop smaller than the input needs a fully convolutional model."""
    from edgecv.launch import training_sections

    for key, params in training_sections(recipe):
        if params.augment == "half-crop-flip" and task.name != "segmentation":
            raise RecipeError(f"key '{key}.augment': half-crop-flip crops segmentation inputs and label maps "
                              f"together; use crop or crop-flip for {task.name}")
