"""Models: build a network by zoo name or import path, with pretrained weights or a user's checkpoint.

``model.arch`` is a zoo name (``edgecv models`` lists them: ``small_cnn``, the CIFAR ResNets ``resnet20``
... ``resnet110``, every torchvision classification model) or a factory of the user's own,
``package.module:factory``.
torch and torchvision are imported only when a model is built or the names are listed.

Example::

    from edgecv.models import build_model, model_entry
    model = build_model("resnet20", num_classes=10, checkpoint=Path("cifar10-resnet20-akamaster.th"))
    model_entry("resnet20").mean                  # preprocessing travels with the model
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecv.errors import ModelError
from edgecv.models.zoo import ModelEntry

if TYPE_CHECKING:
    from torch import nn

    from edgecv.tasks.base import Task

__all__ = ["ModelEntry", "build_model", "model_entry", "model_names"]

RESERVED_KWARGS = {
    "num_classes": "model.num_classes",
    "weights": "model.pretrained",
    "pretrained": "model.pretrained",
}


def model_names() -> list[str]:
    """Every registered model name, sorted."""
    from edgecv.models import zoo

    return zoo.names()


def model_entry(arch: str) -> ModelEntry | None:
    """The zoo entry for ``arch``; ``None`` for an import-path factory; ModelError for an unknown name."""
    from edgecv.models import zoo
    from edgecv.models.factory import is_import_path

    if is_import_path(arch):
        return None
    entry = zoo.lookup(arch)
    if entry is None:
        close = zoo.suggestions(arch)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise ModelError(
            f"unknown model.arch {arch!r}: {hint}Run `edgecv models` to list them, or name your own "
            "factory as 'package.module:factory'",
            field="model.arch",
        )
    return entry


def model_defaults(recipe: Any) -> Any | None:
    """Input size, mean and std defaults of the recipe's model: the task's own model's (a detector), else the zoo
    entry's; None for a user's factory or a ``model.onnx`` graph (whose input fixes its size)."""
    from edgecv.tasks import get_task

    arch = recipe.model.arch
    if arch is None:
        return None
    return get_task(recipe.task).model_defaults(arch) or model_entry(arch)


def build_model(
    arch: str,
    num_classes: int,
    *,
    checkpoint: Path | None = None,
    pretrained: bool = False,
    kwargs: dict[str, Any] | None = None,
    trust_checkpoint: bool = False,
    search_paths: Sequence[Path] = (),
    task: Task | None = None,
    section: Any = None,
) -> nn.Module:
    """Build ``arch`` with ``num_classes`` outputs, then load ``checkpoint`` (strictly) or pretrained weights.

    ``checkpoint`` is read without running code from it (weights-only or safetensors); ``trust_checkpoint``
    (``model.trust_checkpoint``) also accepts whole pickled modules and TorchScript, which can run code.
    ``search_paths`` (the recipe's folder) are searched first for the module of a ``package.module:factory``.

    Pretrained weights come only from the local torch hub cache (never downloaded); with a ``num_classes``
    other than the weights' own, all but the classifier is loaded and a warning says so. Returns the model
    in eval mode. Raises ModelError (``field`` names the recipe key at fault) for anything the user can fix.
    ``task`` may build ``arch`` itself (:meth:`edgecv.tasks.base.Task.build_model`: detectors), before the zoo,
    and gives the weighted model its own form (:meth:`edgecv.tasks.base.Task.adapt_model`: segmenters, and user
    detectors with the decoding the recipe's model ``section`` declares).
    """
    _check_args(num_classes, checkpoint, pretrained, kwargs)
    own = None if task is None or pretrained else task.build_model(arch, num_classes, dict(kwargs or {}))
    entry = None if own is not None else model_entry(arch)
    if own is not None:
        model = own
    elif entry is None:
        from edgecv.models.factory import build_from_import_path

        if pretrained:
            raise ModelError(
                f"model.pretrained works only for zoo models, not {arch!r}; give your weights in model.checkpoint",
                field="model.pretrained",
            )
        model = build_from_import_path(arch, num_classes, kwargs, search_paths)
    elif pretrained:
        from edgecv.models.pretrained import load_pretrained

        model = load_pretrained(entry, num_classes, kwargs)
    else:
        model = _build_entry(entry, num_classes, kwargs or {})
    if checkpoint is not None:
        from edgecv.models.checkpoint import load_checkpoint

        load_checkpoint(model, checkpoint, arch=f"{arch} with {num_classes} classes", trust=trust_checkpoint)
    return (model if task is None else task.adapt_model(model, section)).eval()


def _check_args(num_classes: Any, checkpoint: Path | None, pretrained: bool, kwargs: dict[str, Any] | None) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(
            f"model.num_classes must be a positive integer, got {num_classes!r}", field="model.num_classes"
        )
    if checkpoint is not None and pretrained:
        raise ModelError(
            "model.checkpoint and model.pretrained both give weights; set one of them "
            "(model.pretrained: false to load the checkpoint)",
            field="model.pretrained",
        )
    for key, field in RESERVED_KWARGS.items():
        if key in (kwargs or {}):
            raise ModelError(f"model.kwargs must not contain {key!r}; set {field} instead", field="model.kwargs")


def _build_entry(entry: ModelEntry, num_classes: int, kwargs: dict[str, Any]) -> nn.Module:
    try:
        return entry.factory(num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"{entry.name} cannot be built with model.kwargs {kwargs}: {exc}", field="model.kwargs"
        ) from exc
