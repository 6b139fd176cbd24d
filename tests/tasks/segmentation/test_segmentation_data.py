"""Segmentation data: label-map folder layouts made here, nearest-neighbour label resize, the ignore index, layout
errors (one line, exit 2 through the CLI), and the digit canvases' masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from edgecv.artifacts import Preprocessing
from edgecv.cli import app
from edgecv.errors import DataError
from edgecv.recipe import DataSection
from edgecv.tasks import get_task
from edgecv.tasks.segmentation.data_formats import IGNORED, labelmap_dataset
from edgecv.tasks.segmentation.transforms import resize_label, to_inputs
from tests.conftest import write_recipe


def _pair(images: Path, labels: Path, stem: str, label: np.ndarray) -> None:
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    h, w = label.shape
    Image.fromarray(np.full((h, w, 3), 120, dtype=np.uint8)).save(images / f"{stem}.jpg")
    Image.fromarray(label.astype(np.uint8), mode="L").save(labels / f"{stem}.png")


LABEL = np.array([[0, 1, 1, 11], [2, 2, 0, 11]])


def test_camvid_layout_with_ignore_index(tmp_path: Path) -> None:
    _pair(tmp_path / "val", tmp_path / "valannot", "a", LABEL)
    _pair(tmp_path / "val", tmp_path / "valannot", "b", LABEL[::-1].copy())
    dataset = labelmap_dataset(tmp_path / "val", "data.val", ["x", "y", "z"], ignore_index=11)
    image, label = dataset[0]
    assert image.shape == (3, 2, 4) and image.dtype == torch.uint8
    assert label.tolist() == [[0, 1, 1, IGNORED], [2, 2, 0, IGNORED]]


def test_voc_style_layouts(tmp_path: Path) -> None:
    _pair(tmp_path / "a" / "images", tmp_path / "a" / "masks", "p", LABEL % 3)
    _pair(tmp_path / "b" / "images", tmp_path / "b" / "labels", "q", LABEL % 3)
    assert len(labelmap_dataset(tmp_path / "a", "data.train")) == 1
    assert labelmap_dataset(tmp_path / "b" / "images", "data.train").labels[0].parent.name == "labels"


def test_label_value_beyond_the_classes_names_the_fix(tmp_path: Path) -> None:
    _pair(tmp_path / "val", tmp_path / "valannot", "a", LABEL)
    with pytest.raises(DataError, match=r"label value 11 .* set data\.ignore_index"):
        labelmap_dataset(tmp_path / "val", "data.val", ["x", "y", "z"])[0]


def test_class_names_found_from_the_label_maps(tmp_path: Path) -> None:
    _pair(tmp_path / "train", tmp_path / "trainannot", "a", LABEL)
    for stem in "bcdefghijk":
        _pair(tmp_path / "train", tmp_path / "trainannot", stem, LABEL)
    splits = get_task("segmentation").load_datasets(DataSection(train=tmp_path / "train", ignore_index=11))
    assert splits.labels == ["0", "1", "2"] and len(splits.train) + len(splits.selection) + len(splits.val) == 11


def test_nearest_neighbour_label_resize() -> None:
    label = torch.tensor([[0, 1], [2, 3]])
    assert resize_label(label, (4, 4)).tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    big = torch.arange(16).reshape(4, 4)
    assert set(resize_label(big, (3, 5)).unique().tolist()) <= set(range(16))  # never a blended value
    x, y = to_inputs(torch.zeros(3, 2, 2, dtype=torch.uint8), label, Preprocessing(size=(4, 6)))
    assert x.shape == (3, 4, 6) and y.shape == (4, 6) and y.dtype == torch.int64


def test_missing_label_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "pics" / "a.jpg")
    path = write_recipe(tmp_path, task="segmentation", model={"arch": "lraspp_mobilenet_v3_large", "input_size": 32},
                        data={"train": str(tmp_path / "pics")})
    result = CliRunner().invoke(app, ["compress", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "data.train" in lines[0] and "pics" in lines[0] and "<root>/labels/" in lines[0]


def test_digit_masks_follow_the_pasted_digits() -> None:
    from edgecv.data.canvases import paste_digits

    pasted = paste_digits(count=5, side=64, seed=3)
    for boxes, labels, mask in zip(pasted.boxes, pasted.labels, pasted.masks, strict=True):
        for (x0, y0, x1, y1), digit in zip(boxes.long().tolist(), labels.tolist(), strict=True):
            inside = mask[y0:y1, x0:x1]
            assert (inside == digit + 1).sum() > 0 and set(inside.unique().tolist()) <= {0, digit + 1}
        outside = mask.clone()
        for x0, y0, x1, y1 in boxes.long().tolist():
            outside[y0:y1, x0:x1] = 0
        assert int(outside.max()) == 0
