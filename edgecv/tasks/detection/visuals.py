"""Detection's report pictures: a val image with its true boxes (white) and one model's detections (class colour,
name and score), decoded by the same score threshold and per-class NMS as the mAP, then shown from DISPLAY_SCORE.

Example::

    drawer = DetectionDrawer(["cat", "dog"])
    picture = drawer.prediction(image, {"boxes": boxes, "scores": scores}, target)   # a PIL image
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from edgecv.deploy.detection_postprocess import PostprocessParams, postprocess
from edgecv.report.thumbnails import TRUTH_COLOUR, Colour, box_palette, draw_box, enlarge, hex_colour
from edgecv.tasks.base import SampleDrawer
from edgecv.tasks.detection.metrics import as_numpy

DISPLAY_SCORE = 0.3
"""Detections below this score are decoded for the mAP but not drawn (they would hide the image)."""
DISPLAY_BOXES = 20
"""At most this many detections drawn per image, highest scores first."""


class DetectionDrawer(SampleDrawer):
    """Boxes on val images: true boxes as thin white outlines, detections in their class's colour."""

    def __init__(self, labels: list[str], params: PostprocessParams = PostprocessParams()) -> None:
        self.labels, self.params = labels, params

    def _colour(self, label: int) -> Colour:
        return box_palette(max(len(self.labels), label + 1))[label]

    def _name(self, label: int) -> str:
        return self.labels[label] if label < len(self.labels) else str(label)

    def shown(self, output: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The detections drawn for one image's raw outputs: decoded, at least DISPLAY_SCORE, the best first."""
        dets = postprocess(output["boxes"], output["scores"], self.params)
        keep = np.flatnonzero(dets["scores"] >= DISPLAY_SCORE)[:DISPLAY_BOXES]  # postprocess sorts by score
        return {key: value[keep] for key, value in dets.items()}

    def prediction(self, image: np.ndarray, output: dict[str, np.ndarray], target: Any) -> Image.Image:
        picture, factor = enlarge(image)
        draw = ImageDraw.Draw(picture)
        for box in as_numpy(target["boxes"]).reshape(-1, 4):
            draw_box(draw, box * factor, TRUTH_COLOUR, width=1)
        dets = self.shown(output)
        for box, score, label in reversed(list(zip(dets["boxes"], dets["scores"], dets["labels"], strict=True))):
            draw_box(draw, box * factor, self._colour(int(label)), f"{self._name(int(label))} {score:.2f}")
        return picture

    def legend(self) -> list[tuple[str, str]]:
        return [(name, hex_colour(colour)) for name, colour in zip(self.labels, box_palette(len(self.labels)),
                                                                   strict=True)]
