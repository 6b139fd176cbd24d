"""Build train/val datasets from a recipe's ``data`` section; loaders that apply a model's preprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from edgecv.artifacts import Preprocessing
from edgecv.data.cifar import CIFAR10_CLASSES, cifar10_dataset, cifar_root
from edgecv.data.digits import digits_dataset
from edgecv.data.imagefolder import image_folder
from edgecv.data.splits import DataSplits, carve_splits, subset_targets
from edgecv.data.transforms import augment, to_model_input
from edgecv.errors import DataError


def _detect(path: Path) -> str:
    if path.is_dir() and cifar_root(path) is not None:
        return "cifar10"
    return "imagefolder"


def _open(path: Path, fmt: str, train: bool, field: str, skip_bad: bool = False) -> tuple[Dataset[Any], list[str]]:
    fmt = _detect(path) if fmt == "auto" else fmt
    if fmt == "cifar10":
        return cifar10_dataset(path, train, field), CIFAR10_CLASSES
    dataset = image_folder(path, field, skip_bad=skip_bad)
    return dataset, dataset.classes


def load_datasets(section: Any) -> DataSplits:
    """Train, selection and val splits for a recipe's ``data`` section (a DataSection). Raises DataError with the key.

    The selection split is ``data.selection_fraction`` of every class, held out from train (seeded by
    ``data.seed``), or from val with ``data.selection_from: val``; without train data (a loaded model judged on
    ``data.val``) it comes out of val and is also what calibration and any training draw from
    (:func:`edgecv.data.splits.carve_splits`). Either way no reported image decides anything.
    """
    fmt = section.format
    train: Dataset[Any] | None = None
    val: Dataset[Any] | None = None
    if fmt == "digits" or (fmt == "auto" and section.train is None and section.val is None):
        train, labels = digits_dataset(section.digits_size)
        source = f"scikit-learn digits upsampled to {section.digits_size}px"
    elif section.train is None:  # validation only (a loaded model)
        val, labels = _open(section.val, fmt, False, "data.val", section.skip_bad_images)
        source = str(section.val)
    else:
        train, labels = _open(section.train, fmt, True, "data.train", section.skip_bad_images)
        if section.val is not None:
            val, val_labels = _open(section.val, fmt, False, "data.val", section.skip_bad_images)
            if val_labels != labels:
                raise DataError(
                    f"data.val: classes {val_labels[:5]}... differ from data.train's {labels[:5]}...; "
                    "both need the same class folders",
                    field="data.val",
                )
        source = f"train {section.train}, val {section.val or 'held out from train'}"
    return carve_splits(train, val, list(labels), source, section, "every class of")


def calibration_subset(dataset: Dataset[Any], size: int, seed: int = 0) -> Dataset[Any]:
    """Exactly ``size`` images (all of them when there are fewer) for calibration, sensitivity ranking or a bundle:
    classes in turn, in a seeded order, each class's images in a seeded order, so class counts differ by at most
    one where the classes have enough images. Fewer images than classes leaves some classes out, with a warning.
    """
    if size >= len(dataset):  # type: ignore[arg-type]
        return dataset
    generator = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(subset_targets(dataset)):
        by_class.setdefault(label, []).append(index)
    queues = [[by_class[c][i] for i in torch.randperm(len(by_class[c]), generator=generator).tolist()]
              for c in sorted(by_class)]
    queues = [queues[i] for i in torch.randperm(len(queues), generator=generator).tolist()]
    if size < len(queues):
        from edgecv.console import warn

        warn(f"a class-balanced subset of {size} images cannot hold {len(queues)} classes: {len(queues) - size} "
             f"classes have no image in it; use at least {len(queues)} images to represent every class")
    chosen: list[int] = []
    for depth in range(max(map(len, queues))):
        chosen += [queue[depth] for queue in queues if depth < len(queue)][: size - len(chosen)]
        if len(chosen) == size:
            break
    return Subset(dataset, sorted(chosen))


class Preprocessed(Dataset[tuple[torch.Tensor, int]]):
    """Applies optional augmentation and a model's preprocessing to a dataset of uint8 images."""

    def __init__(self, dataset: Dataset[Any], pre: Preprocessing, augment_mode: str = "none") -> None:
        self.dataset = dataset
        self.pre = pre
        self.augment_mode = augment_mode

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.dataset[index]
        return to_model_input(augment(image, self.augment_mode), self.pre), int(label)


def make_loader(
    dataset: Dataset[Any],
    pre: Preprocessing,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment_mode: str = "none",
    seed: int = 0,
    workers: int = 0,
) -> DataLoader[tuple[torch.Tensor, int]]:
    """A DataLoader of preprocessed float batches; shuffling is seeded so a run is repeatable."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        Preprocessed(dataset, pre, augment_mode),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
    )
