"""Where a detection bundle's boxes are: model-input pixels, and how to map them back to the original image.

Bundled images were resized to the model's input as edgecv does it (``preprocessing.json``: ``resize`` stretch or
letterbox, ``size``), so the model's boxes and the bundled ground truth are in input pixels, where the mAP is
computed. ``val.npz`` keeps each image's original ``source_sizes`` (height, width); :func:`to_source_pixels` maps
boxes back to them. numpy only: the bundle ships this file, and edgecv's letterbox uses the same geometry.

Example::

    scale, left, top = letterbox_geometry((480, 640), (320, 320))   # 0.5, 0, 40
    to_source_pixels(boxes, (480, 640), (320, 320), "letterbox")
"""

from __future__ import annotations

import numpy as np


def letterbox_geometry(source: tuple[int, int], target: tuple[int, int]) -> tuple[float, int, int]:
    """``(scale, left pad, top pad)`` that fit a ``source`` (h, w) image inside ``target`` keeping its aspect."""
    scale = min(target[0] / source[0], target[1] / source[1])
    h, w = round(source[0] * scale), round(source[1] * scale)
    return scale, (target[1] - w) // 2, (target[0] - h) // 2


def to_source_pixels(boxes: np.ndarray, source: tuple[int, int], target: tuple[int, int], resize: str) -> np.ndarray:
    """(K, 4) xyxy boxes in the model's ``target`` (h, w) input pixels -> the ``source`` (h, w) image's pixels."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if resize == "letterbox":
        scale, left, top = letterbox_geometry(source, target)
        return (boxes - np.array([left, top, left, top], dtype=np.float64)) / scale
    sy, sx = target[0] / source[0], target[1] / source[1]
    return boxes / np.array([sx, sy, sx, sy], dtype=np.float64)
