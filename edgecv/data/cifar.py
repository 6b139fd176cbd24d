"""CIFAR-10 in torchvision's on-disk format (``cifar-10-batches-py``), used when it is already present."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

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


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR-10 batch (dicts of bytes, lists of ints and uint8 numpy arrays) refers to."""
    core = getattr(np, "_core", None) or np.core
    import _codecs

    reconstruct, frombuffer = core.multiarray._reconstruct, core.numeric._frombuffer
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy.core.numeric", "_frombuffer"): frombuffer,
        ("numpy._core.numeric", "_frombuffer"): frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _codecs.encode,  # bytes pickled by Python 3 with protocol 2
    }


class _RefusedGlobal(pickle.UnpicklingError):
    """A batch names a global that is not allowed."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: any other global is refused, so no code runs."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _numpy_globals().get((module, name))
        if allowed is None:
            raise _RefusedGlobal(f"it refers to {module}.{name}, which a CIFAR-10 batch never holds")
        return allowed


def _read_batch(path: Path, field: str) -> tuple[np.ndarray, list[int]]:
    try:
        with open(path, "rb") as fh:
            entry = _BatchUnpickler(fh, encoding="latin1").load()
        entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
        return np.asarray(entry["data"], dtype=np.uint8), [int(label) for label in entry["labels"]]
    except _RefusedGlobal as exc:
        message = f"{field}: refused CIFAR-10 batch '{path}': {exc} (unpickling it could run code); extract the "
        raise DataError(message + "official archive again", field=field) from exc
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError) as exc:
        message = f"{field}: cannot read CIFAR-10 batch '{path}' ({exc}); extract the archive again"
        raise DataError(message, field=field) from exc


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
