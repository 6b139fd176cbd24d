"""Train, selection and val splits for detection: the digit canvases by default, or YOLO / COCO data.

Splits are seeded and stratified by each image's first class, exactly as classification's
(:func:`edgecv.data.loading.seeded_split`): selection is held out from train; without train data it comes out of val.

Example::

    splits = load_detection_datasets(recipe.data)
    splits.train[0]        # (uint8 image, {"boxes", "labels"})
"""

from __future__ import annotations

from typing import Any

from edgecv.data import DataSplits
from edgecv.data.loading import limit, seeded_split
from edgecv.errors import DataError
from edgecv.tasks.detection.data_formats import open_detection

CANVASES = 600
"""Images of the embedded default (digits pasted on canvases)."""
CANVAS_SIDE = 128


def load_detection_datasets(section: Any) -> DataSplits:
    """The splits of a recipe's ``data`` section (a DataSection). Raises DataError naming the key."""
    fmt, fraction, seed = section.format, section.selection_fraction, section.seed
    if fmt in ("imagefolder", "cifar10"):
        raise DataError(f"data.format: {fmt} holds no boxes; detection reads yolo or coco (or auto)",
                        field="data.format")
    if fmt == "digits" or (fmt == "auto" and section.train is None and section.val is None):
        from edgecv.tasks.detection.data_digits import digit_canvases

        full = digit_canvases(CANVASES, CANVAS_SIDE, seed)
        labels, (train, val) = full.classes, seeded_split(full, section.val_fraction, seed)
        source = f"scikit-learn digits pasted on {CANVAS_SIDE}px canvases ({CANVASES} images, 1-3 digits each)"
    elif section.train is None:
        val_all = open_detection(section.val, fmt, "data.val")
        val, selection = seeded_split(val_all, fraction, seed)
        selection = limit(selection, section.max_selection_samples, seed)
        return DataSplits(train=selection, val=limit(val, section.max_val_samples, seed), labels=val_all.classes,
                          source=str(section.val), selection=selection,
                          selection_source=f"{fraction:g} of data.val, held out (seed {seed}); also the calibration "
                          "set, and the reported val images are the rest")
    else:
        full = open_detection(section.train, fmt, "data.train")
        labels = full.classes
        if section.val is None:
            train, val = seeded_split(full, section.val_fraction, seed)
        else:
            train, val_set = full, open_detection(section.val, fmt, "data.val")
            if val_set.classes != labels:
                raise DataError(f"data.val: classes {val_set.classes[:5]}... differ from data.train's {labels[:5]}...; "
                                "both need the same class names", field="data.val")
            val = val_set
        source = f"train {section.train}, val {section.val or 'held out from train'}"
    train, selection = seeded_split(train, fraction, seed)
    return DataSplits(
        train=limit(train, section.max_train_samples, seed), val=limit(val, section.max_val_samples, seed),
        labels=list(labels), source=source, selection=limit(selection, section.max_selection_samples, seed),
        selection_source=f"{fraction:g} of the training images (stratified by first class), held out (seed {seed})",
    )
