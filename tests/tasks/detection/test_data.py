"""Detection datasets: YOLO and COCO folders made here, empty label files, letterbox round trip, digit canvases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgecv.artifacts import Preprocessing
from edgecv.errors import DataError
from edgecv.tasks.detection.data_digits import digit_canvases
from edgecv.tasks.detection.data_formats import coco_dataset, open_detection, yolo_dataset
from edgecv.tasks.detection.transforms import collate, resize_with_boxes, unletterbox


def _image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 200, dtype=np.uint8)).save(path)


def _yolo(root: Path) -> Path:
    _image(root / "images" / "a.png", 200, 100)
    _image(root / "images" / "b.png", 50, 80)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.25 0.25 0.1 0.1\n")
    (root / "labels" / "b.txt").write_text("")  # an image without objects
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def test_yolo_boxes_in_pixels_and_empty_labels(tmp_path: Path) -> None:
    dataset = yolo_dataset(_yolo(tmp_path), "data.train")
    assert dataset.classes == ["cat", "dog"] and len(dataset) == 2
    image, target = dataset[0]
    assert image.shape == (3, 100, 200)
    assert torch.allclose(target["boxes"], torch.tensor([[80.0, 30.0, 120.0, 70.0], [40.0, 20.0, 60.0, 30.0]]))
    assert target["labels"].tolist() == [1, 0]
    assert dataset[1][1]["boxes"].shape == (0, 4) and dataset.targets == [1, -1]


def test_yolo_bad_line_names_file(tmp_path: Path) -> None:
    root = _yolo(tmp_path)
    (root / "labels" / "a.txt").write_text("dog 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match=r"a\.txt:1: expected 'class cx cy w h'"):
        yolo_dataset(root, "data.train")


def test_coco_json(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "x.png", 64, 32)
    data = {"images": [{"id": 7, "file_name": "x.png", "width": 64, "height": 32}],
            "categories": [{"id": 3, "name": "car"}, {"id": 9, "name": "bus"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 9, "bbox": [4, 2, 10, 20], "iscrowd": 0}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    dataset = open_detection(tmp_path / "ann.json", "auto", "data.train")
    assert dataset.classes == ["car", "bus"]
    _, target = dataset[0]
    assert target["boxes"].tolist() == [[4.0, 2.0, 14.0, 22.0]] and target["labels"].tolist() == [1]
    data["annotations"][0]["category_id"] = 5
    (tmp_path / "ann.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="category 5"):
        coco_dataset(tmp_path / "ann.json", "data.train")


def test_letterbox_round_trip_and_stretch() -> None:
    image = torch.zeros(3, 100, 200, dtype=torch.uint8)
    boxes = torch.tensor([[20.0, 10.0, 120.0, 90.0]])
    pre = Preprocessing(size=(64, 64), resize="letterbox")
    x, moved = resize_with_boxes(image, boxes, pre)
    assert x.shape == (3, 64, 64)
    assert torch.allclose(moved, torch.tensor([[6.4, 19.2, 38.4, 44.8]]), atol=1e-4)  # scale 0.32, top pad 16
    assert torch.allclose(unletterbox(moved, (100, 200), (64, 64)), boxes, atol=1e-4)
    _, stretched = resize_with_boxes(image, boxes, Preprocessing(size=(50, 100)))
    assert torch.allclose(stretched, boxes / 2)


def test_digit_canvases_seeded_and_collated() -> None:
    a, b = digit_canvases(8, 64, seed=3, scale=(16, 24)), digit_canvases(8, 64, seed=3, scale=(16, 24))
    assert torch.equal(a.images, b.images) and all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes, strict=True))
    image, target = a[0]
    x0, y0, x1, y1 = target["boxes"][0].long().tolist()
    assert 1 <= len(target["labels"]) <= 3 and image[:, y0:y1, x0:x1].float().mean() > image.float().mean()
    images, targets = collate([a[0], a[1]])
    assert images.shape == (2, 3, 64, 64) and isinstance(targets, list) and len(targets) == 2
