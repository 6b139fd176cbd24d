"""Helpers shared by the data tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Subset


def subset_indices(dataset: Any) -> set[int]:
    """The indices into the underlying dataset that a (nested) Subset holds."""
    indices: list[int] = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    return set(indices)


def image_folder(root: Path, per_class: int) -> Path:
    """An ImageFolder at ``root``: classes ``a`` and ``b``, ``per_class`` distinct 8x8 PNGs each."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i * 7 % 255, 0, 0)).save(root / label / f"{i}.png")
    return root
