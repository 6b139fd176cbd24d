"""The recipe: one YAML file that says what to compress, how, for which devices. Validated before any work.

Example::

    from edgecv.recipe import load_recipe
    recipe = load_recipe("recipes/quickstart.yaml", overrides=["train.epochs=3"])
    recipe.model.arch, recipe.train.epochs      # ("small_cnn", 3)
    recipe.digest()                              # sha256 of the resolved recipe, recorded in every run

Relative paths resolve against the recipe's folder (paths given with ``--set`` against the current folder);
``${VAR}`` and ``${VAR:-default}`` expand from the environment. Unknown keys are errors with a did-you-mean.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from edgecv.errors import RecipeError
from edgecv.export.trt_options import TensorRTOptions
from edgecv.recipe_errors import describe_validation_error
from edgecv.stages.params import StageParams, StrictModel, TrainParams

PATH_KEYS = ("model.checkpoint", "data.train", "data.val", "output")
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ModelSection(StrictModel):
    """Which model: a zoo name (``resnet20``, ``mobilenet_v2``) or ``package.module:factory``."""

    arch: str = Field(description="Zoo name (`edgecv models`) or import path `package.module:factory`")
    num_classes: int | None = Field(None, gt=0, description="Defaults to the number of classes in the data")
    checkpoint: Path | None = Field(None, description="A state_dict or whole-model file to load")
    pretrained: bool = Field(False, description="torchvision weights from the local torch cache (no download)")
    kwargs: dict[str, Any] = Field({}, description="Extra keyword arguments for the model factory")
    input_size: int | None = Field(None, gt=0, description="Square input side; defaults to the model's own")
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


class DataSection(StrictModel):
    """Where the images are. With no paths, the embedded default (scikit-learn's handwritten digits) is used."""

    format: Literal["auto", "digits", "imagefolder", "cifar10"] = Field(
        "auto", description="auto: digits without paths; CIFAR-10 batches or an ImageFolder (folder or .tar) by content"
    )
    train: Path | None = None
    val: Path | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Held out from train when no val set is given")
    seed: int = 0
    batch_size: int = Field(64, gt=0)
    workers: int = Field(0, ge=0, description="DataLoader worker processes")
    max_train_samples: int | None = Field(None, gt=0)
    max_val_samples: int | None = Field(None, gt=0)
    calibration_size: int = Field(512, gt=0, description="Images drawn from train for calibration stages")
    digits_size: int = Field(32, ge=8, description="Side the 8x8 digits are upsampled to")


class ParityTolerance(StrictModel):
    """How close an exported model must stay to its parent; the run fails beyond these."""

    max_abs_diff: float = Field(1e-4, gt=0)
    min_cosine: float = Field(0.9999, gt=0, le=1)
    min_top1_agreement: float = Field(1.0, gt=0, le=1)
    samples: int = Field(128, gt=0, description="Validation images compared")


class ExportSection(StrictModel):
    """How to export: ONNX opset (default: the lowest any target device parses, at most 17), simplification."""

    opset: int | None = Field(None, ge=13, le=17, description="The legacy exporter honours 13-17")
    simplify: bool = True
    dynamic_batch: bool = True
    parity: ParityTolerance = ParityTolerance()
    bundles: list[str] = Field([], description="Devices to write a deploy bundle for, after validation")
    bundle_images: int = Field(200, ge=0, description="Val images (at the model's size) each bundle carries")
    tensorrt: TensorRTOptions = Field(TensorRTOptions(), description="How engines are built on the device")


class ValidateSection(StrictModel):
    """Where and how exported artifacts are checked: accuracy on val, latency per device."""

    devices: list[str] = Field(["host-cpu"], min_length=1, description="Device profile names or YAML paths")
    batch_sizes: list[int] = Field([1, 32], min_length=1)
    warmup: int = Field(10, ge=0)
    runs: int = Field(50, gt=0, description="Timed runs per batch size")
    threads: int | None = Field(None, gt=0, description="ONNX Runtime intra-op threads; defaults to all cores")
    max_samples: int | None = Field(None, gt=0, description="Cap on validation images")

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(b <= 0 for b in value):
            raise ValueError("batch sizes must be positive integers")
        return value


class Budgets(StrictModel):
    """Limits each artifact x device is judged against; a device profile's own budgets fill the gaps."""

    latency_ms: float | None = Field(None, gt=0)
    max_accuracy_drop: float | None = Field(None, ge=0, description="Top-1 points below the first artifact")
    model_size_mb: float | None = Field(None, gt=0)
    memory_mb: float | None = Field(None, gt=0)


class ReportSection(StrictModel):
    formats: list[Literal["json", "md", "html"]] = ["json", "md", "html"]
    budgets: Budgets = Budgets()


class Recipe(StrictModel):
    """A whole recipe. ``source`` is the file it came from (None when built in Python)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Names the run folder runs/<name>/")
    task: Literal["classification"] = "classification"
    model: ModelSection
    data: DataSection = DataSection()
    train: TrainParams = TrainParams()
    stages: list[StageParams] = []
    export: ExportSection = ExportSection()
    validate_: ValidateSection = Field(ValidateSection(), alias="validate")
    report: ReportSection = ReportSection()
    output: Path = Field(Path("runs"), description="Runs go to <output>/<name>/<run-id>/")
    source: Path | None = Field(None, exclude=True)

    model_config = StrictModel.model_config | {"populate_by_name": True}

    def digest(self) -> str:
        """sha256 of the resolved recipe (paths absolute, defaults filled); identifies what a run did."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain data, with its YAML key names."""
        return self.model_dump(mode="json", by_alias=True)


def expand_env(text: str, source: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without a default is an error."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise RecipeError(
                    f"{source}: environment variable ${{{name}}} is not set; set it or write ${{{name}:-default}}"
                )
            return default
        return value

    return _ENV_PATTERN.sub(replace, text)


def apply_override(data: dict[str, Any], assignment: str, base: Path) -> None:
    """Apply one ``key.path=value`` override in place; the value is parsed as YAML (``3``, ``[1, 32]``, ``true``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {assignment!r}: write it as key.path=value, e.g. --set train.epochs=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise RecipeError(f"--set {assignment!r}: the value is not valid YAML ({exc})") from exc
    key = key.strip()
    if key in PATH_KEYS and isinstance(value, str) and not Path(value).is_absolute():
        value = str((base / value).resolve())
    node: Any = data
    parts = key.split(".")
    for part, following in itertools.pairwise(parts):
        child = _list_item(node, part, assignment) if isinstance(node, list) else node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict | list):
            raise RecipeError(f"--set {assignment!r}: '{part}' is not a section, so it has no key '{following}'")
        node = child
    if isinstance(node, list):
        _list_item(node, parts[-1], assignment)
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def _list_item(items: list[Any], part: str, assignment: str) -> Any:
    """``items[part]`` for a list key such as ``stages.1``; a clear error for a bad index."""
    if not part.isdigit() or int(part) >= len(items):
        raise RecipeError(f"--set {assignment!r}: '{part}' is not an index of a {len(items)}-entry list; "
                          f"use 0..{len(items) - 1}, e.g. --set stages.0.epochs=3")
    return items[int(part)]


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for dotted in PATH_KEYS:
        *parents, leaf = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(leaf), str) and node[leaf]:
            node[leaf] = str((base / os.path.expanduser(node[leaf])).resolve())


def parse_recipe(data: Any, source: str, base: Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Validate already-loaded recipe data; ``source`` names it in errors, ``base`` anchors relative paths."""
    if not isinstance(data, dict):
        raise RecipeError(
            f"{source}: a recipe is a mapping of sections (name, model, data, ...), not {type(data).__name__}"
        )
    _resolve_paths(data, base)
    for assignment in overrides:
        apply_override(data, assignment, Path.cwd())
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(describe_validation_error(exc, source, Recipe)) from exc


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, expand, override and validate a recipe file. Every problem is a RecipeError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found; give the path to a recipe YAML (see recipes/)")
    try:
        text = expand_env(path.read_text(), str(path))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: malformed YAML{where}: {problem}; fix the syntax there") from exc
    recipe = parse_recipe(data, str(path), path.parent.resolve(), overrides)
    return recipe.model_copy(update={"source": path.resolve()})
