"""``data.selection_from: val``: the selection split comes out of data.val for every task (one shared carving),
the reported val split is the rest, calibration still draws from train; a recipe that cannot do it is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecv.data import load_datasets
from edgecv.errors import RecipeError
from edgecv.recipe import DataSection, parse_recipe
from edgecv.tasks.detection.data import load_detection_datasets
from edgecv.tasks.segmentation.data import load_segmentation_datasets
from tests.data.helpers import image_folder, subset_indices


def _labelmaps(images: Path, count: int) -> Path:
    labels = images.parent / f"{images.name}annot"
    images.mkdir(parents=True)
    labels.mkdir()
    for i in range(count):
        Image.fromarray(np.full((4, 4, 3), i, dtype=np.uint8)).save(images / f"{i:03d}.png")
        Image.fromarray(np.full((4, 4), i % 2, dtype=np.uint8), mode="L").save(labels / f"{i:03d}.png")
    return images


def _yolo(root: Path, count: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(count):
        Image.new("RGB", (8, 8)).save(root / "images" / f"{i}.png")
        (root / "labels" / f"{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def _check(splits, train_count: int, val_count: int, held: int) -> None:  # type: ignore[no-untyped-def]
    """Selection is ``held`` val images, disjoint from the reported rest; train keeps all its images."""
    assert len(splits.selection) == held and len(splits.val) == val_count - held
    assert not (subset_indices(splits.selection) & subset_indices(splits.val))
    assert len(splits.train) == train_count and splits.train is not splits.selection
    assert "data.val" in splits.selection_source and "calibration and training draw from the training data" in \
        splits.selection_source


def test_classification_selection_from_val(tmp_path: Path) -> None:
    train, val = image_folder(tmp_path / "train", 6), image_folder(tmp_path / "val", 10)
    section = DataSection(train=train, val=val, selection_fraction=0.2, selection_from="val")
    _check(load_datasets(section), train_count=12, val_count=20, held=4)  # 2 of each class


def test_segmentation_selection_from_val_is_seeded(tmp_path: Path) -> None:
    train, val = _labelmaps(tmp_path / "train", 5), _labelmaps(tmp_path / "val", 20)
    section = DataSection(train=train, val=val, selection_fraction=0.25, selection_from="val", ignore_index=11)
    first = load_segmentation_datasets(section)
    _check(first, train_count=5, val_count=20, held=5)
    again = load_segmentation_datasets(section)
    other = load_segmentation_datasets(section.model_copy(update={"seed": 1}))
    assert subset_indices(first.selection) == subset_indices(again.selection) != subset_indices(other.selection)


def test_detection_selection_from_val(tmp_path: Path) -> None:
    train, val = _yolo(tmp_path / "train", 4), _yolo(tmp_path / "val", 10)
    section = DataSection(format="yolo", train=train, val=val, selection_fraction=0.2, selection_from="val")
    _check(load_detection_datasets(section), train_count=4, val_count=10, held=2)


def test_default_still_holds_selection_out_of_train(tmp_path: Path) -> None:
    train, val = _labelmaps(tmp_path / "train", 10), _labelmaps(tmp_path / "val", 4)
    splits = load_segmentation_datasets(DataSection(train=train, val=val, selection_fraction=0.2, ignore_index=11))
    assert len(splits.val) == 4 and len(splits.selection) == 2 and len(splits.train) == 8
    assert "held out from training" in splits.selection_source


@pytest.mark.parametrize(("data", "message"), [
    ({"train": "t", "selection_from": "val"}, "there is no data.val"),
    ({"val": "v", "selection_from": "train"}, "there is no data.train"),
    ({"selection_from": "both"}, "'train' or 'val'"),
])
def test_a_selection_source_the_data_lacks_is_one_line(tmp_path: Path, data: dict[str, str], message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe({"name": "x", "model": {"arch": "small_cnn"}, "data": data}, "r.yaml", tmp_path)
    text = str(caught.value)
    assert text.startswith("r.yaml: key 'data") and message in text and "\n" not in text
