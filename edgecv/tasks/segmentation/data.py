"""Train, selection and val splits for segmentation: the digit canvases by default, or image + label-map folders.

Splits are seeded and carved as for every task (:func:`edgecv.data.splits.carve_splits`): selection is held out
from train (from val with ``data.selection_from: val``); without train data it comes out of val.
Class names come from ``data.class_names``, else ``classes.txt`` beside the data, else the indices found in the
label maps (``data.ignore_index`` excluded).

Example::

    splits = load_segmentation_datasets(recipe.data)
    splits.val[0]        # (uint8 image, int64 label map)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecv.data import DataSplits
from edgecv.data.splits import carve_splits
from edgecv.errors import DataError
from edgecv.tasks.segmentation.data_formats import LabelMapDataset, labelmap_dataset, read_label_map

CANVASES = 600
"""Images of the embedded default (digits pasted on canvases)."""
CANVAS_SIDE = 96


def _names(section: Any, dataset: LabelMapDataset, root: Path) -> list[str]:
    """The class names of the recipe, of classes.txt/data.yaml, or ``0..max`` over the label maps."""
    from edgecv.tasks.detection.data_formats import class_names

    if section.class_names:
        return list(section.class_names)
    names = class_names(root)
    if names:
        return names
    top = -1
    for path in dataset.labels:
        values = read_label_map(path).unique()
        values = values[values != section.ignore_index] if section.ignore_index is not None else values
        top = max(top, int(values.max()) if len(values) else -1)
    return [str(i) for i in range(top + 1)] or ["0"]


def _check_ignore(section: Any, labels: list[str]) -> None:
    ignore = section.ignore_index
    if ignore is not None and ignore < len(labels):
        raise DataError(f"data.ignore_index: {ignore} is class {labels[ignore]!r} of data.class_names; list only the "
                        "counted classes (the ignore index comes after them) or change the ignore index",
                        field="data.ignore_index")


def _open(section: Any, path: Path, field: str) -> LabelMapDataset:
    if section.format not in ("auto", "labelmap"):
        raise DataError(f"data.format: {section.format} holds no label maps; segmentation reads labelmap (or auto)",
                        field="data.format")
    dataset = labelmap_dataset(path, field, ignore_index=section.ignore_index)
    dataset.classes = _names(section, dataset, path)
    return dataset


def load_segmentation_datasets(section: Any) -> DataSplits:
    """The splits of a recipe's ``data`` section (a DataSection). Raises DataError naming the key."""
    train: Any = None
    val: Any = None
    if section.format == "digits" or (section.format == "auto" and section.train is None and section.val is None):
        from edgecv.tasks.segmentation.data_digits import digit_masks

        train = digit_masks(CANVASES, CANVAS_SIDE, section.seed)
        labels = train.classes
        source = f"scikit-learn digits pasted on {CANVAS_SIDE}px canvases with their masks ({CANVASES} images)"
    elif section.train is None:
        val = _open(section, section.val, "data.val")
        labels, source = val.classes, str(section.val)
    else:
        train = _open(section, section.train, "data.train")
        labels = train.classes
        if section.val is not None:
            val = labelmap_dataset(section.val, "data.val", labels, section.ignore_index)
        source = f"train {section.train}, val {section.val or 'held out from train'}"
    _check_ignore(section, labels)
    return carve_splits(train, val, list(labels), source, section, "the images of")
