"""Detection's report pictures: boxes drawn where the decoded prediction and the truth say, in their colours."""

from __future__ import annotations

import numpy as np
import torch

from edgecv.report.thumbnails import THUMB_SIDE, TRUTH_COLOUR, box_palette
from edgecv.tasks.detection.visuals import DetectionDrawer


def _picture() -> tuple[DetectionDrawer, np.ndarray]:
    drawer = DetectionDrawer(["a", "b"])
    output = {"boxes": np.array([[10, 10, 30, 30], [0, 0, 5, 5]], np.float32),
              "scores": np.array([[0.05, 0.9], [0.2, 0.1]], np.float32)}  # the second is below the display score
    target = {"boxes": torch.tensor([[20.0, 20, 40, 44]]), "labels": torch.tensor([0])}
    picture = drawer.prediction(np.zeros((48, 48, 3), np.uint8), output, target)
    assert picture.size == (THUMB_SIDE, THUMB_SIDE)  # 48 px enlarged 5x
    return drawer, np.asarray(picture)


def test_prediction_box_in_its_class_colour_where_decoded() -> None:
    _, pixels = _picture()
    colour = box_palette(2)[1]  # class "b"
    for x, y in [(100, 150), (50, 120), (150, 140), (51, 149)]:  # 2-px edges of (50, 50, 150, 150)
        assert tuple(pixels[y, x]) == colour, (x, y)
    assert tuple(pixels[90, 90]) == (0, 0, 0)  # inside the box: the image
    assert tuple(pixels[12, 24]) == (0, 0, 0)  # where the low-score anchor would be: not drawn
    tag = pixels[40:50, 50:80].reshape(-1, 3)  # the "b 0.90" tag above the box: class colour, light text
    assert (tag == colour).all(axis=1).mean() > 0.5 and (tag[:, 0] > 200).sum() > 10


def test_truth_box_drawn_in_white() -> None:
    _, pixels = _picture()
    for x, y in [(200, 180), (170, 220)]:  # right and bottom edges of (100, 100, 200, 220)
        assert tuple(pixels[y, x]) == TRUTH_COLOUR, (x, y)
    assert tuple(pixels[180, 180]) == (0, 0, 0)


def test_shown_keeps_decoded_detections_above_the_display_score() -> None:
    drawer, _ = _picture()
    shown = drawer.shown({"boxes": np.array([[0, 0, 9, 9], [0, 0, 10, 10], [30, 30, 40, 40]], np.float32),
                          "scores": np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.35]], np.float32)})
    assert shown["labels"].tolist() == [0, 1] and shown["scores"].tolist() == [np.float32(0.9), np.float32(0.35)]
    assert drawer.legend() == [("a", "#ff2626"), ("b", "#2665ff")]
