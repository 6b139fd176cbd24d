"""The selection split: held out from train (from val without train data), disjoint from what is reported,
seeded, and what every decision (best epoch, accuracy control, calibration without train data) uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecv.data import load_datasets
from edgecv.recipe import DataSection
from tests.data.helpers import image_folder, subset_indices


def test_digits_selection_is_disjoint_from_train_and_val() -> None:
    splits = load_datasets(DataSection(selection_fraction=0.1))
    train, selection, val = subset_indices(splits.train), subset_indices(splits.selection), subset_indices(splits.val)
    assert not (train & selection) and not (train & val) and not (selection & val)
    assert len(selection) == pytest.approx(0.1 * (len(train) + len(selection)), abs=10)
    assert "held out from training" in splits.selection_source


def test_the_split_is_seeded() -> None:
    first, again = load_datasets(DataSection(seed=3)), load_datasets(DataSection(seed=3))
    other = load_datasets(DataSection(seed=4))
    assert subset_indices(first.selection) == subset_indices(again.selection) != subset_indices(other.selection)


def test_without_train_data_the_selection_comes_out_of_val(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "val", per_class=20)
    splits = load_datasets(DataSection(val=folder, selection_fraction=0.25))
    selection, val = subset_indices(splits.selection), subset_indices(splits.val)
    assert len(selection) == 10 and len(val) == 30 and not (selection & val)
    assert splits.train is splits.selection  # calibration (and any training) draws from it, never from val
    assert "data.val" in splits.selection_source


def test_train_and_val_folders_hold_the_selection_out_of_train(tmp_path: Path) -> None:
    train_dir, val_dir = image_folder(tmp_path / "train", 30), image_folder(tmp_path / "val", 5)
    splits = load_datasets(DataSection(train=train_dir, val=val_dir, selection_fraction=0.2, max_selection_samples=8))
    assert len(splits.val) == 10 and len(splits.selection) == 8
    assert not (subset_indices(splits.train) & subset_indices(splits.selection))
    assert len(splits.train) == 48  # 60 images, 12 held out, of which 8 kept by the cap
