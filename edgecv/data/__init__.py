"""Datasets: the embedded default (handwritten digits), ImageFolder (folder or .tar) and CIFAR-10 batches.

Every dataset yields ``(uint8 CHW RGB tensor, label)``; the model's Preprocessing turns images into inputs, so
the same data serves models of any input size.

Example::

    from edgecv.data import load_datasets
    splits = load_datasets(recipe.data)          # DataSplits(train, val, labels)
    loader = make_loader(splits.val, preprocessing, batch_size=64)
"""

from edgecv.data.loading import DataSplits, calibration_subset, load_datasets, make_loader

__all__ = ["DataSplits", "calibration_subset", "load_datasets", "make_loader"]
