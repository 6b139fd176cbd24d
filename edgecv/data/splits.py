"""The train, selection and val splits of a recipe, carved the same way for every task.

A task's reader opens its datasets (``data.train`` and ``data.val``, or an embedded default) and hands them to
:func:`carve_splits`, which holds out val (when no ``data.val`` is given) and the selection split, applies the
``max_*_samples`` caps, and says in ``selection_source`` which images the decisions were made on.

Where the selection split comes from (``data.selection_from``):

- ``train`` (the default with train data): ``selection_fraction`` of the training images, so a model trained here
  never sees them; but a checkpoint trained elsewhere on the same train images has, and its decisions then do not
  carry over to val;
- ``val``: ``selection_fraction`` of the val images; the reported val split is the rest, and calibration and any
  training still draw from train;
- no train data (a loaded model judged on ``data.val``): out of val, and it is also the calibration set.

Example::

    splits = carve_splits(train_set, None, labels, "train /data/x", recipe.data, "every class of")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Subset


@dataclass
class DataSplits:
    """The datasets of a recipe and the label names (index = class id).

    ``train`` trains and calibrates; ``selection`` (held out from train, or from val with ``data.selection_from:
    val``, seeded) makes every decision: the best epoch, accuracy control's fallback layers, and, for a recipe
    without train data, calibration; ``val`` is only reported. ``selection_source`` says which images decided.
    """

    train: Dataset[Any]
    val: Dataset[Any]
    labels: list[str]
    source: str
    selection: Dataset[Any] = None  # type: ignore[assignment]
    selection_source: str = ""

    def __post_init__(self) -> None:
        if self.selection is None:  # a caller that made no selection split: decide on val, and say so
            self.selection, self.selection_source = self.val, "the val split (no selection split was made)"

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def _targets(dataset: Dataset[Any]) -> list[int]:
    if hasattr(dataset, "targets"):
        return list(dataset.targets)
    if hasattr(dataset, "tensors"):
        return dataset.tensors[1].tolist()
    return [int(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]


def seeded_split(dataset: Dataset[Any], fraction: float, seed: int) -> tuple[Subset[Any], Subset[Any]]:
    """Split into (rest, held_out) with ``fraction`` of every class held out; the same seed gives the same split."""
    generator = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(subset_targets(dataset)):  # read through Subsets: no image is decoded
        by_class.setdefault(label, []).append(index)
    rest: list[int] = []
    held: list[int] = []
    for label in sorted(by_class):
        indices = by_class[label]
        order = torch.randperm(len(indices), generator=generator).tolist()
        cut = max(1, round(len(indices) * fraction))
        held += [indices[i] for i in order[:cut]]
        rest += [indices[i] for i in order[cut:]]
    return Subset(dataset, sorted(rest)), Subset(dataset, sorted(held))


def limit(dataset: Dataset[Any], cap: int | None, seed: int) -> Dataset[Any]:
    """At most ``cap`` items, drawn evenly across classes so a capped val set keeps every class."""
    if cap is None or cap >= len(dataset):  # type: ignore[arg-type]
        return dataset
    _, kept = seeded_split(dataset, cap / len(dataset), seed)  # type: ignore[arg-type]
    return kept


def subset_targets(dataset: Dataset[Any]) -> list[int]:
    """The labels of ``dataset``, read through Subsets from the dataset below them (no image is decoded)."""
    if isinstance(dataset, Subset):
        below = subset_targets(dataset.dataset)
        return [below[i] for i in dataset.indices]
    return [int(t) for t in _targets(dataset)]


def selection_from(section: Any) -> str:
    """``train`` or ``val``: the recipe's ``data.selection_from``, else train when there is train data."""
    chosen = getattr(section, "selection_from", None)
    if chosen is not None:
        return str(chosen)
    return "val" if section.train is None and section.val is not None else "train"


def carve_splits(
    train: Dataset[Any] | None, val: Dataset[Any] | None, labels: list[str], source: str, section: Any,
    stratum: str,
) -> DataSplits:
    """The splits of ``train`` (None: the recipe has only val data) and ``val`` (None: held out of train by
    ``data.val_fraction``). ``stratum`` names how the seeded split draws, in the report's words ("every class
    of", "the images, stratified by first class, of")."""
    fraction, seed = section.selection_fraction, section.seed
    if train is None:
        assert val is not None, "a reader opens train or val"
        rest, selection = seeded_split(val, fraction, seed)
        selection = limit(selection, section.max_selection_samples, seed)
        return DataSplits(
            train=selection, val=limit(rest, section.max_val_samples, seed), labels=list(labels), source=source,
            selection=selection,
            selection_source=f"{fraction:g} of {stratum} data.val, held out (seed {seed}); it is also the "
            "calibration set, and the reported val images are the rest",
        )
    carved_val = val is None
    if val is None:
        train, val = seeded_split(train, section.val_fraction, seed)
    if selection_from(section) == "val":
        val, selection = seeded_split(val, fraction, seed)
        whose = "the val split (itself held out from the training data)" if carved_val else "data.val"
        text = (f"{fraction:g} of {stratum} {whose}, held out (seed {seed}); the reported val images are the rest, "
                "and calibration and training draw from the training data")
    else:
        train, selection = seeded_split(train, fraction, seed)
        text = f"{fraction:g} of {stratum} the training data, held out from training (seed {seed})"
    return DataSplits(
        train=limit(train, section.max_train_samples, seed), val=limit(val, section.max_val_samples, seed),
        labels=list(labels), source=source, selection=limit(selection, section.max_selection_samples, seed),
        selection_source=text,
    )
