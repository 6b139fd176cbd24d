"""Segmentation's report pictures: class maps blended in the dataset's palette (or PASCAL VOC's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Subset

from edgecv.report.thumbnails import THUMB_SIDE, label_palette, overlay
from edgecv.tasks.segmentation.data_formats import LabelMapDataset
from edgecv.tasks.segmentation.visuals import SegmentationDrawer, dataset_palette


def _quadrants() -> np.ndarray:
    mask = np.zeros((8, 8), np.int64)
    mask[:4, 4:], mask[4:, :4], mask[4:, 4:] = 1, 2, -100  # -100: an ignored pixel
    return mask


def test_voc_palette_values() -> None:
    palette = label_palette(21)
    assert palette[:4] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert palette[15] == (192, 128, 128) and palette[20] == (0, 64, 128)


def test_overlay_blends_each_class_colour_and_leaves_ignored_pixels() -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    pixels = np.asarray(overlay(image, _quadrants(), [(0, 0, 0), (200, 0, 0), (0, 0, 250)]))
    assert pixels.shape == (THUMB_SIDE, THUMB_SIDE, 3)  # 8 px enlarged 30x
    assert tuple(pixels[50, 50]) == (50, 50, 50)  # class 0: half black
    assert tuple(pixels[50, 200]) == (150, 50, 50)  # class 1: half (200, 0, 0)
    assert tuple(pixels[200, 50]) == (50, 50, 175)  # class 2
    assert tuple(pixels[200, 200]) == (100, 100, 100)  # ignored: the image
    assert tuple(pixels[119, 119]) == (50, 50, 50) and tuple(pixels[119, 120]) == (150, 50, 50)  # a sharp border


def test_prediction_is_the_argmax_overlay_and_truth_the_label_overlay() -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    drawer = SegmentationDrawer(["bg", "a", "b"])
    logits = np.zeros((3, 8, 8), np.float32)
    predicted = np.where(_quadrants() < 0, 0, _quadrants())
    np.put_along_axis(logits, predicted[None], 5.0, axis=0)
    shown = np.asarray(drawer.prediction(image, {"logits": logits}, None))
    assert np.array_equal(shown, np.asarray(overlay(image, predicted, label_palette(3))))
    assert tuple(shown[50, 200]) == (114, 50, 50)  # half of VOC's (128, 0, 0) over 100
    assert np.array_equal(np.asarray(drawer.truth(image, torch.from_numpy(_quadrants()))),
                          np.asarray(overlay(image, _quadrants(), label_palette(3))))
    assert drawer.legend() == [("bg", "#000000"), ("a", "#800000"), ("b", "#008000")]


def test_palette_of_palette_png_label_maps(tmp_path: Path) -> None:
    image, label = tmp_path / "x.png", tmp_path / "x_label.png"
    Image.new("RGB", (4, 4)).save(image)
    mask = Image.new("P", (4, 4))
    mask.putpalette([10, 20, 30, 200, 100, 0, 5, 5, 5])
    mask.save(label)
    dataset = Subset(LabelMapDataset([image], [label], ["road", "car"]), [0])
    assert dataset_palette(dataset, 2) == [(10, 20, 30), (200, 100, 0)]
    assert SegmentationDrawer(["road", "car"], dataset_palette(dataset, 2)).legend()[1] == ("car", "#c86400")
    Image.new("L", (4, 4)).save(label)  # a grey label map carries no colours
    assert dataset_palette(dataset, 2) is None
