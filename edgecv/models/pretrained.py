"""Pretrained weights from the local torch hub cache only: edgecv never downloads.

The file must already be at ``torch.hub.get_dir()/checkpoints/<file name>``
(``~/.cache/torch/hub/checkpoints`` unless ``TORCH_HOME`` says otherwise), under the name torchvision's
Weights enum (or the entry's
``pretrained_url``) gives. When ``num_classes`` differs from the pretrained classes, every layer but the
classifier is loaded, the classifier starts from random initialization, and a warning says so.

Example::

    from edgecv.models.pretrained import load_pretrained
    model = load_pretrained(lookup("resnet18"), num_classes=7)   # ImageNet backbone, new 7-way head
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgecv.errors import ModelError
from edgecv.models.checkpoint import load_checkpoint
from edgecv.models.zoo import ModelEntry

FIELD = "model.pretrained"


def hub_checkpoint_dir() -> Path:
    """The folder torch hub caches weight files in."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_file(entry: ModelEntry) -> Path:
    """The cached pretrained file for ``entry``; ModelError saying where to put it when it is not there."""
    if entry.pretrained_file is None or entry.pretrained_classes is None:
        raise ModelError(
            f"{entry.name} has no pretrained weights; set model.pretrained: false, or give trained "
            "weights in model.checkpoint",
            field=FIELD,
        )
    path = hub_checkpoint_dir() / entry.pretrained_file
    if not path.is_file():
        raise ModelError(
            f"pretrained weights for {entry.name} are not in the local torch hub cache: put "
            f"{entry.pretrained_file} at {path} (download it from {entry.pretrained_url} on a machine with "
            "internet; edgecv never downloads), or set model.pretrained: false",
            field=FIELD,
        )
    return path


def load_pretrained(entry: ModelEntry, num_classes: int, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Build ``entry`` with its cached pretrained weights and a ``num_classes``-way classifier."""
    kwargs = dict(kwargs or {})
    path = cached_file(entry)
    assert entry.pretrained_classes is not None  # checked by cached_file
    if entry.family == "torchvision":
        model = _torchvision_pretrained(entry, path, kwargs)
    else:
        model = entry.factory(num_classes=entry.pretrained_classes, **kwargs)
        try:
            load_checkpoint(model, path, arch=entry.name)
        except ModelError as exc:
            raise ModelError(f"{exc} (pretrained weights; replace the file)", field=FIELD) from exc
    if num_classes != entry.pretrained_classes:
        replaced = replace_head(model, entry, num_classes, kwargs)
        warnings.warn(
            f"{entry.name}: the pretrained weights have {entry.pretrained_classes} classes and "
            f"model.num_classes is {num_classes}: loaded every layer except {', '.join(replaced)}, which "
            "start from random initialization; train before use",
            stacklevel=3,
        )
    return model


def _torchvision_pretrained(entry: ModelEntry, path: Path, kwargs: dict[str, Any]) -> nn.Module:
    from torchvision import models

    weights = models.get_model_weights(entry.name).DEFAULT
    try:
        # The file is in the cache (checked above), so torch.hub loads it and downloads nothing.
        return models.get_model(entry.name, weights=weights, progress=False, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"{entry.name} with pretrained weights cannot take model.kwargs {kwargs}: {exc}",
            field="model.kwargs",
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"pretrained weights {path} for {entry.name} cannot be loaded ({type(exc).__name__}: "
            f"{exc}); delete the file and put a good copy of {entry.pretrained_url} there",
            field=FIELD,
        ) from exc


def replace_head(model: nn.Module, entry: ModelEntry, num_classes: int, kwargs: dict[str, Any]) -> list[str]:
    """Swap the modules whose shapes depend on the number of classes for fresh ones; return their names.

    They are found by building the architecture with ``num_classes`` on the meta device (no memory, no
    init cost; on the CPU for the few builders that compute on tensors, e.g. RegNet) and comparing each
    module's own parameter shapes with the pretrained model's.
    """
    try:
        with torch.device("meta"):
            reference = entry.factory(num_classes=num_classes, **kwargs)
    except NotImplementedError:
        reference = entry.factory(num_classes=num_classes, **kwargs)
    ref_modules = dict(reference.named_modules())
    replaced = []
    for name, module in list(model.named_modules()):
        ref = ref_modules.get(name)
        if not name or ref is None or type(ref) is not type(module) or _own_shapes(ref) == _own_shapes(module):
            continue
        fresh = ref.to_empty(device=_device_of(module))
        for sub in fresh.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
        model.set_submodule(name, fresh)
        replaced.append(name)
    if not replaced:
        raise ModelError(
            f"{entry.name}: found no classifier to resize from {entry.pretrained_classes} to "
            f"{num_classes} classes; set model.num_classes: {entry.pretrained_classes}",
            field="model.num_classes",
        )
    return replaced


def _own_shapes(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(p.shape)) for n, p in module.named_parameters(recurse=False)]


def _device_of(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
