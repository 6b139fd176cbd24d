"""CIFAR-10 in torchvision's on-disk format (``cifar-10-batches-py``), used when it is already present."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from edgecv.errors import DataError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_root(path: Path) -> Path | None:
    """The folder that holds ``cifar-10-batches-py`` (``path`` itself or its parent), if any."""
    for candidate in (path, path.parent):
        if (candidate / "cifar-10-batches-py" / "batches.meta").is_file():
            return candidate
    if (path / "batches.meta").is_file():
        return path.parent
    return None


def cifar10_dataset(path: Path, train: bool, field: str) -> TensorDataset:
    """The CIFAR-10 train or test batches under ``path`` as uint8 images and labels; never downloads."""
    from torchvision.datasets import CIFAR10

    root = cifar_root(path)
    if root is None:
        raise DataError(
            f"{field}: no cifar-10-batches-py under '{path}'; extract CIFAR-10 (python version) there", field=field
        )
    ds = CIFAR10(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return TensorDataset(images, torch.tensor(ds.targets, dtype=torch.long))
