"""The stage contract: what a stage declares, how it registers itself, and the check preflight runs for it.

A stage is one file in ``edgecv/stages/``: a ``Stage`` subclass decorated with :func:`register_stage` that says

- ``kind``: its name (the ``type`` a recipe's ``stages:`` entry uses, or a fixed pipeline step such as
  ``export-onnx``);
- ``Params``: the pydantic model of its recipe entry (with a ``type`` literal), or ``None`` for the fixed
  steps that read a recipe section instead;
- ``accepts``: the formats of the current model it can work on; ``produces``: the format of the model it leaves
  as the current one (``None``: it leaves the current model as it was);
- ``check(params, check)``: everything about its settings that can be judged before any work (devices, the
  model's layers, what other stages will have produced), raising a RecipeError that names the recipe key.

Preflight calls every stage's check in plan order before a run folder exists, and follows the formats from one
stage to the next, so ``stages: [quantize, finetune]`` is refused in one line instead of failing after the
quantize work. The module is light (no torch) so a recipe validates without importing the stage's libraries;
a stage imports what it runs with inside ``run``.

Example (a whole new stage, in ``edgecv/stages/noop.py``)::

    class NoopParams(StrictModel):
        type: Literal["noop"]

    @register_stage
    class NoopStage(Stage):
        kind, Params, accepts, produces = "noop", NoopParams, frozenset({"torch"}), None

        def run(self, ctx, current, folder):
            return StageResult(stage=folder.name, kind=self.kind, outputs=[current.artifact])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from edgecv.errors import RecipeError

if TYPE_CHECKING:
    from torch import nn

    from edgecv.artifacts import StageResult
    from edgecv.devices import DeviceProfile
    from edgecv.models.zoo import ModelEntry
    from edgecv.recipe import Recipe
    from edgecv.stages.base import CurrentModel, RunContext

ANY_FORMAT: frozenset[str] = frozenset({"torch", "onnx", "tensorrt-engine", "bundle"})
REFERENCE_KINDS = ("load", "load-onnx", "train")
"""Stages whose output is the run's reference model (the teacher by default, the FP32 baseline of the report)."""


@dataclass
class StageCheck:
    """What a stage's check may look at: the recipe, its devices, the built model, and the stage's place."""

    recipe: Recipe
    devices: list[DeviceProfile]
    model: nn.Module | None = None
    """The model as the recipe builds it (before any stage), when preflight built it."""
    model_entry: ModelEntry | None = None
    """The zoo entry of ``model.arch``; None for a user's ``module:factory``."""
    key: str = "stages"
    """How errors name this stage in the recipe: ``stages[2]``, ``train``, ``export``."""
    before: list[str] = field(default_factory=list)
    """The kinds of the stages that run before this one, in order."""


class Stage(ABC):
    """One step of the pipeline. Subclasses set the class attributes below and implement ``run``."""

    kind: ClassVar[str] = "?"
    Params: ClassVar[type[BaseModel] | None] = None
    accepts: ClassVar[frozenset[str]] = frozenset({"torch"})
    produces: ClassVar[str | None] = None

    def __init__(self, params: Any = None) -> None:
        self.params = params

    @classmethod
    def check(cls, params: Any, check: StageCheck) -> None:
        """Refuse settings that cannot work with ``check``'s devices and model (RecipeError naming check.key).

        The default has nothing to check beyond the Params schema.
        """
        return None

    @abstractmethod
    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        """Do the stage's work into ``folder`` and return what it produced."""


_REGISTRY: dict[str, type[Stage]] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Class decorator: make ``cls`` findable by its ``kind`` (and, with Params, usable in recipes)."""
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise RuntimeError(f"two stages claim the kind {cls.kind!r}: {_REGISTRY[cls.kind]} and {cls}")
    if cls.Params is not None and "type" not in cls.Params.model_fields:
        raise RuntimeError(f"{cls.__name__}.Params needs a 'type' literal field")
    _REGISTRY[cls.kind] = cls
    return cls


def registered() -> dict[str, type[Stage]]:
    """Every stage, by kind, after importing every module of ``edgecv.stages``."""
    import importlib
    import pkgutil

    import edgecv.stages as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("base", "contract", "params"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(_REGISTRY)


def recipe_stage_params() -> list[type[BaseModel]]:
    """The Params classes of the stages a recipe's ``stages:`` list can name, in a stable order."""
    return [cls.Params for _, cls in sorted(registered().items()) if cls.Params is not None]


def format_error(kind: str, accepts: frozenset[str], current: str, made_by: str, key: str) -> RecipeError:
    """The one line for a stage placed after one that leaves a model it cannot take."""
    wanted = " or ".join(sorted(accepts))
    return RecipeError(
        f"key '{key}': {kind} works on a model in {wanted} format, but {made_by} before it leaves one in {current} "
        f"format; put {kind} before {made_by}"
    )


def stage_key(recipe: Recipe, params: Any) -> str:
    """``stages[i]``: how errors name a stage's entry in the recipe (``stages`` when it is not listed there)."""
    return next((f"stages[{i}]" for i, entry in enumerate(recipe.stages) if entry is params), "stages")
