"""The model zoo: name -> :class:`ModelEntry` (how to build the network and the preprocessing it expects).

Entries: edgecv's own ``small_cnn``, the CIFAR ResNets of He et al. 2016 (``resnet20`` ... ``resnet110``),
and every classification architecture of ``torchvision.models``. torch and torchvision are imported only when
an entry is built or the torchvision names are listed, so importing this module is cheap.

Example::

    from edgecv.models.zoo import lookup, names
    entry = lookup("resnet20")
    model = entry.factory(num_classes=10)
    entry.input_size, entry.mean, entry.std      # (32, 32), ImageNet mean, ImageNet std
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AKAMASTER_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
# File names (and sha256 prefixes) of akamaster/pytorch_resnet_cifar10's pretrained CIFAR-10 ResNets.
AKAMASTER_FILES = {
    20: "resnet20-12fca82f.th",
    32: "resnet32-d509ac18.th",
    44: "resnet44-014dd654.th",
    56: "resnet56-4bfd9763.th",
    110: "resnet110-1d1ed7c2.th",
}


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: how to build it and what input it expects."""

    name: str
    factory: Callable[..., nn.Module]
    """Called as ``factory(num_classes=..., **kwargs)``; returns a randomly initialized network."""
    family: str
    """Where it comes from: ``edgecv``, ``cifar-resnet`` or ``torchvision``."""
    input_size: tuple[int, int]
    """Default input (height, width)."""
    mean: tuple[float, float, float]
    """Per-channel RGB mean of inputs in [0, 1]."""
    std: tuple[float, float, float]
    pretrained_url: str | None = None
    """Where the pretrained weights are published; ``None`` when there are none."""
    pretrained_classes: int | None = None
    """Number of classes of the pretrained weights (1000 for ImageNet, 10 for CIFAR-10)."""
    description: str = ""

    @property
    def pretrained_file(self) -> str | None:
        """File name of the pretrained weights in the torch hub cache (``<hub dir>/checkpoints/``)."""
        return self.pretrained_url.rsplit("/", 1)[-1] if self.pretrained_url else None


def _small_cnn(num_classes: int, **kwargs: Any) -> nn.Module:
    from edgecv.models.small_cnn import small_cnn

    return small_cnn(num_classes=num_classes, **kwargs)


def _cifar_resnet(depth: int, num_classes: int, **kwargs: Any) -> nn.Module:
    from edgecv.models.cifar_resnet import cifar_resnet

    return cifar_resnet(depth, num_classes=num_classes, **kwargs)


def _torchvision(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    from torchvision import models

    if name.startswith("vit_") and "image_size" not in kwargs:
        # A ViT's position embedding fixes its input size: match the entry's (the pretrained weights' size).
        kwargs["image_size"] = lookup(name).input_size[0]
    return models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def _local_entries() -> dict[str, ModelEntry]:
    entries = {
        "small_cnn": ModelEntry(
            name="small_cnn",
            factory=_small_cnn,
            family="edgecv",
            input_size=(32, 32),
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            description="5 conv-BN-ReLU blocks (16-64 channels), ~71k params; the quickstart model",
        )
    }
    for depth in AKAMASTER_FILES:
        name = f"resnet{depth}"
        entries[name] = ModelEntry(
            name=name,
            factory=partial(_cifar_resnet, depth),
            family="cifar-resnet",
            input_size=(32, 32),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            pretrained_url=AKAMASTER_URL + AKAMASTER_FILES[depth],
            pretrained_classes=10,
            description=f"CIFAR ResNet-{depth} (He et al. 2016, option-A shortcut), 32x32 input",
        )
    return entries


@lru_cache(maxsize=1)
def _local() -> dict[str, ModelEntry]:
    return _local_entries()


@lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    from torchvision import models

    return tuple(models.list_models(module=models))


@cache
def _torchvision_entry(name: str) -> ModelEntry:
    from torchvision import models

    weights = models.get_model_weights(name).DEFAULT
    preprocess = weights.transforms()
    crop = int(getattr(preprocess, "crop_size", [224])[0])
    return ModelEntry(
        name=name,
        factory=partial(_torchvision, name),
        family="torchvision",
        input_size=(crop, crop),
        mean=tuple(getattr(preprocess, "mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
        std=tuple(getattr(preprocess, "std", IMAGENET_STD)),  # type: ignore[arg-type]
        pretrained_url=weights.url,
        pretrained_classes=len(weights.meta["categories"]),
        description=f"torchvision {name} ({weights.meta.get('num_params', 0) / 1e6:.1f}M params)",
    )


def names() -> list[str]:
    """Every registered name, sorted (imports torchvision to list its models)."""
    return sorted({*_local(), *_torchvision_names()})


def lookup(name: str) -> ModelEntry | None:
    """The entry registered under ``name``, or ``None``. edgecv's own names win over torchvision's."""
    if name in _local():
        return _local()[name]
    if name in _torchvision_names():
        return _torchvision_entry(name)
    return None


def suggestions(name: str, n: int = 3) -> list[str]:
    """Registered names close to ``name`` (for "did you mean")."""
    wanted = name.strip().lower().replace("-", "_")
    by_key = {k.replace("_", ""): k for k in names()}
    close = difflib.get_close_matches(wanted.replace("_", ""), list(by_key), n=n, cutoff=0.6)
    return [by_key[k] for k in close]
