"""Helpers shared by the data tests."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Subset


def subset_indices(dataset: Any) -> set[int]:
    """The indices into the underlying dataset that a (nested) Subset holds."""
    indices: list[int] = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    return set(indices)
