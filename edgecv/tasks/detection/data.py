"""Train, selection and val splits for detection: the digit canvases by default, or YOLO / COCO data.

Splits are seeded and stratified by each image's first class, carved as for every task
(:func:`edgecv.data.splits.carve_splits`): selection is held out from train (from val with ``data.selection_from:
val``); without train data it comes out of val.

Example::

    splits = load_detection_datasets(recipe.data)
    splits.train[0]        # (uint8 image, {"boxes", "labels"})
"""

from __future__ import annotations

from typing import Any

from edgecv.data import DataSplits
from edgecv.data.splits import carve_splits
from edgecv.errors import DataError
from edgecv.tasks.detection.data_formats import open_detection

CANVASES = 600
"""Images of the embedded default (digits pasted on canvases)."""
CANVAS_SIDE = 128


def load_detection_datasets(section: Any) -> DataSplits:
    """The splits of a recipe's ``data`` section (a DataSection). Raises DataError naming the key."""
    fmt = section.format
    train: Any = None
    val: Any = None
    if fmt in ("imagefolder", "cifar10"):
        raise DataError(f"data.format: {fmt} holds no boxes; detection reads yolo or coco (or auto)",
                        field="data.format")
    if fmt == "digits" or (fmt == "auto" and section.train is None and section.val is None):
        from edgecv.tasks.detection.data_digits import digit_canvases

        train = digit_canvases(CANVASES, CANVAS_SIDE, section.seed)
        labels = train.classes
        source = f"scikit-learn digits pasted on {CANVAS_SIDE}px canvases ({CANVASES} images, 1-3 digits each)"
    elif section.train is None:
        val = open_detection(section.val, fmt, "data.val")
        labels, source = val.classes, str(section.val)
    else:
        train = open_detection(section.train, fmt, "data.train")
        labels = train.classes
        if section.val is not None:
            val = open_detection(section.val, fmt, "data.val")
            if val.classes != labels:
                raise DataError(f"data.val: classes {val.classes[:5]}... differ from data.train's {labels[:5]}...; "
                                "both need the same class names", field="data.val")
        source = f"train {section.train}, val {section.val or 'held out from train'}"
    return carve_splits(train, val, list(labels), source, section, "the images (stratified by first class) of")
