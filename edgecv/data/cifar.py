"""CIFAR-10 in torchvision's on-disk format (``cifar-10-batches-py``), used when it is already present."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
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


def _read_batch(path: Path, field: str) -> tuple[np.ndarray, list[int]]:
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        message = f"{field}: cannot read CIFAR-10 batch '{path}' ({exc}); extract the archive again"
        raise DataError(message, field=field) from exc
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    return np.asarray(entry["data"], dtype=np.uint8), list(entry["labels"])


def cifar10_dataset(path: Path, train: bool, field: str) -> TensorDataset:
    """The CIFAR-10 train or test batches under ``path`` as uint8 images and labels; never downloads.

    The batches are the python pickles of the official archive (what torchvision also reads); they are read
    directly so a copy whose files torchvision's checksum list does not know still loads.
    """
    root = cifar_root(path)
    if root is None:
        raise DataError(
            f"{field}: no cifar-10-batches-py under '{path}'; extract CIFAR-10 (python version) there", field=field
        )
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    parts = [_read_batch(root / "cifar-10-batches-py" / name, field) for name in names]
    data = np.concatenate([d for d, _ in parts]).reshape(-1, 3, 32, 32)
    labels = [label for _, batch_labels in parts for label in batch_labels]
    return TensorDataset(torch.from_numpy(data.copy()), torch.tensor(labels, dtype=torch.long))
