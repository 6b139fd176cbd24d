"""calibration_subset returns exactly the size asked for, balanced and seeded, and warns when classes are left out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from edgecv.data import calibration_subset


def _dataset(counts: list[int]) -> TensorDataset:
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    return TensorDataset(torch.zeros(len(labels), 1), labels)


def _counts(subset: Subset, classes: int) -> np.ndarray:
    targets = subset.dataset.tensors[1]
    return np.bincount(targets[list(subset.indices)].numpy(), minlength=classes)


def test_more_classes_than_a_class_each_would_allow_still_gives_exactly_the_size() -> None:
    subset = calibration_subset(_dataset([2] * 300), 256, seed=3)  # was one image per class: 300
    counts = _counts(subset, 300)
    assert len(subset) == 256 and counts.max() == 1
    assert calibration_subset(_dataset([2] * 300), 256, seed=3).indices == subset.indices
    assert calibration_subset(_dataset([2] * 300), 256, seed=4).indices != subset.indices


def test_counts_differ_by_at_most_one_and_small_classes_give_way() -> None:
    balanced = _counts(calibration_subset(_dataset([5] * 30), 64), 30)
    assert balanced.sum() == 64 and balanced.max() - balanced.min() <= 1
    uneven = _counts(calibration_subset(_dataset([1, 1, 50]), 30), 3)
    assert uneven.tolist() == [1, 1, 28]


def test_fewer_images_than_classes_warns(capsys: pytest.CaptureFixture[str]) -> None:
    subset = calibration_subset(_dataset([3] * 40), 12)
    assert len(subset) == 12 and _counts(subset, 40).max() == 1
    assert "28 classes have no image" in capsys.readouterr().err
