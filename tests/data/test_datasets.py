"""Datasets: the embedded digits, ImageFolder from a folder and a tar, CIFAR-10 batches, splits, preprocessing."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgecv.artifacts import Preprocessing
from edgecv.data import calibration_subset, load_datasets, make_loader
from edgecv.data.transforms import augment, to_model_input
from edgecv.errors import DataError
from edgecv.recipe import DataSection
from tests.data.helpers import subset_indices


def _image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((12, 10, 3), 40 + 100 * label, dtype=np.uint8) + rng.integers(
                0, 5, (12, 10, 3), dtype=np.uint8
            )
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_digits_split_is_seeded_stratified_and_disjoint() -> None:
    first = load_datasets(DataSection(seed=3))
    again = load_datasets(DataSection(seed=3))
    other = load_datasets(DataSection(seed=4))
    train = subset_indices(first.train) | subset_indices(first.selection)  # the selection split is held out of train
    assert subset_indices(first.train) == subset_indices(again.train) != subset_indices(other.train)
    assert not train & subset_indices(first.val)
    assert len(train) + len(first.val) == 1797 and first.labels == [str(d) for d in range(10)]
    val_labels = [int(first.val[i][1]) for i in range(len(first.val))]
    assert min(np.bincount(val_labels)) >= 30  # every digit is in val
    image, _ = first.train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)


def test_image_folder_from_folder_and_tar_agree(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "val")
    archive = tmp_path / "val.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname="val")
    from_folder = load_datasets(DataSection(val=folder))
    from_tar = load_datasets(DataSection(val=archive))
    assert from_folder.labels == from_tar.labels == ["cat", "dog"]
    # without train data one image per class is held out of val as the selection split
    assert len(from_folder.val) == len(from_tar.val) == 6 and len(from_folder.selection) == 2
    for i in range(6):
        a, la = from_folder.val[i]
        b, lb = from_tar.val[i]
        assert la == lb and torch.equal(a, b)


def test_cifar10_batches_format(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (20, 3072), dtype=np.uint8)
    labels = [i % 10 for i in range(20)]
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        with open(root / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels}, fh)
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [b"x"] * 10}, fh)
    splits = load_datasets(DataSection(train=tmp_path, val=tmp_path))  # format detected from the folder
    assert len(splits.train) + len(splits.selection) == 100 and len(splits.selection) == 10 and len(splits.val) == 20
    image, label = splits.val[3]
    assert image.shape == (3, 32, 32) and label == 3
    assert torch.equal(image, torch.from_numpy(data[3].reshape(3, 32, 32)))


def _cifar_pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (10, 3072), dtype=np.uint8)


def _write_cifar(tmp_path: Path, protocol: int, test_batch: object = None) -> Path:
    """CIFAR-10 batches laid out like the official archive (bytes keys, labels, filenames), plus the meta file."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    data = _cifar_pixels()
    batch = {b"batch_label": b"training batch", b"labels": list(range(10)), b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(10)]}
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        with open(root / name, "wb") as fh:
            pickle.dump(test_batch if name == "test_batch" and test_batch is not None else batch, fh, protocol)
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [b"x"] * 10}, fh, protocol)
    return root


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches_of_every_pickle_protocol_load(tmp_path: Path, protocol: int) -> None:
    _write_cifar(tmp_path, protocol)
    splits = load_datasets(DataSection(train=tmp_path, val=tmp_path))
    assert len(splits.val) == 10 and splits.val[7][1] == 7
    assert torch.equal(splits.val[7][0].flatten(), torch.from_numpy(_cifar_pixels()[7]))


class _Payload:
    """Unpickling it runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_tampered_cifar10_batch_is_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = np.zeros((10, 3072), dtype=np.uint8)
    root = _write_cifar(tmp_path, 2, {b"data": data, b"labels": list(range(10)), b"x": _Payload(marker)})
    with pytest.raises(DataError, match=r"refused CIFAR-10 batch .*test_batch.*refers to \w+\.system") as info:
        load_datasets(DataSection(train=tmp_path, val=tmp_path))
    assert str(root / "test_batch") in str(info.value) and "\n" not in str(info.value)
    assert info.value.field == "data.val"
    assert not marker.exists()


def test_missing_and_empty_folders_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.val.*does not exist"):
        load_datasets(DataSection(val=tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"data.train.*0 images"):
        load_datasets(DataSection(train=tmp_path / "empty"))


def test_calibration_subset_is_balanced_and_seeded() -> None:
    splits = load_datasets(DataSection())
    subset = calibration_subset(splits.train, 100, seed=1)
    labels = [int(subset[i][1]) for i in range(len(subset))]
    assert 95 <= len(subset) <= 105
    assert np.bincount(labels).min() >= 8
    assert calibration_subset(splits.train, 100, seed=1).indices == subset.indices


def test_preprocessing_resizes_and_normalizes() -> None:
    pre = Preprocessing(size=(8, 8), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    white = torch.full((3, 16, 16), 255, dtype=torch.uint8)
    out = to_model_input(white, pre)
    assert out.shape == (3, 8, 8)
    torch.testing.assert_close(out, torch.full((3, 8, 8), 2.0))
    bgr = to_model_input(
        torch.stack([torch.zeros(4, 4), torch.ones(4, 4) * 255, torch.zeros(4, 4)]).byte(),
        Preprocessing(size=(4, 4), channel_order="BGR"),
    )
    assert bgr[1].mean() == pytest.approx(1.0) and bgr[0].mean() == 0


def test_augment_keeps_shape_and_loader_batches() -> None:
    torch.manual_seed(0)
    image = torch.arange(3 * 8 * 8, dtype=torch.uint8).reshape(3, 8, 8)
    assert augment(image, "crop-flip").shape == image.shape
    assert torch.equal(augment(image, "none"), image)
    splits = load_datasets(DataSection(max_train_samples=64))
    batch, labels = next(iter(make_loader(splits.train, Preprocessing(size=(16, 16)), 16, shuffle=True)))
    assert batch.shape == (16, 3, 16, 16) and batch.dtype == torch.float32 and labels.shape == (16,)
