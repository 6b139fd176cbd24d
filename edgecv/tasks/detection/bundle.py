"""A detector's deploy-bundle val set: images resized as the model declares (stretch or letterbox) with their boxes.

``val.npz`` holds ``images`` (N, 3, H, W) uint8 at the model's input size, the ground truth of all images
concatenated (``boxes`` (M, 4) float32 xyxy in input pixels, ``labels`` (M,) int64), ``box_counts`` (N,) (how many
boxes each image has, in order) and ``source_sizes`` (N, 2) (each original image's height and width:
``box_geometry.to_source_pixels`` maps input-pixel boxes back to it). The images go through edgecv's own
``resize_with_boxes`` (bilinear, antialiased; letterbox pads with gray 114), rounded to uint8, so edgecv and the
bundle's runner see the same pixels and the same boxes.

Example::

    arrays = bundle_val(splits.val, pre, 200)
    bundle_dataset(arrays)[0]      # (uint8 image, {"boxes": (k, 4), "labels": (k,)})
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from edgecv.artifacts import Preprocessing


def _to_input_pixels(image: torch.Tensor, boxes: torch.Tensor, pre: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 image at the model's size and its boxes, through edgecv's resize (no normalization)."""
    from edgecv.tasks.detection.transforms import resize_with_boxes

    plain = pre.model_copy(update={"mean": (0.0,) * len(pre.mean), "std": (1.0,) * len(pre.std), "scale": 1.0,
                                   "channel_order": "RGB"})
    x, moved = resize_with_boxes(image, boxes.float().reshape(-1, 4), plain)
    return x.round().clamp(0, 255).to(torch.uint8).numpy(), moved.numpy().astype(np.float32)


def bundle_val(dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` val images (seeded, balanced by each image's first class) with boxes in input pixels."""
    from edgecv.data import calibration_subset

    images, boxes, labels, counts, sizes = [], [], [], [], []
    if count > 0 and len(dataset) > 0:  # type: ignore[arg-type]
        subset = calibration_subset(dataset, count, seed)
        for index in range(len(subset)):
            image, target = subset[index]
            pixels, moved = _to_input_pixels(image, target["boxes"], pre)
            images.append(pixels)
            boxes.append(moved)
            labels.append(np.asarray(target["labels"], dtype=np.int64).reshape(-1))
            counts.append(len(moved))
            sizes.append((int(image.shape[-2]), int(image.shape[-1])))
    return {
        "images": np.stack(images) if images else np.zeros((0, 3, *pre.size), np.uint8),
        "labels": np.concatenate(labels) if labels else np.zeros((0,), np.int64),
        "boxes": np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32),
        "box_counts": np.asarray(counts, dtype=np.int64),
        "source_sizes": np.asarray(sizes, dtype=np.int64).reshape(-1, 2),
    }


class BundledDetections(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """The bundled arrays as (uint8 image, {"boxes", "labels"}) pairs: edgecv's detection dataset format."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.images = arrays["images"]
        ends = np.cumsum(arrays["box_counts"])
        starts = ends - arrays["box_counts"]
        self.targets = [{"boxes": torch.from_numpy(arrays["boxes"][s:e].copy()),
                         "labels": torch.from_numpy(arrays["labels"][s:e].copy())} for s, e in zip(starts, ends,
                                                                                                 strict=True)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        target = self.targets[index]
        return torch.from_numpy(self.images[index]), {k: v.clone() for k, v in target.items()}


def bundle_info(labels: list[str], output_names: list[str]) -> dict[str, Any]:
    """task.json: the class names, the boxes/scores output names and edgecv's decoding (score threshold, NMS)."""
    from edgecv.deploy.detection_postprocess import PostprocessParams

    boxes, scores = output_names[:2] if len(output_names) >= 2 else ("boxes", "scores")
    return {"task": "detection", "labels": list(labels), "outputs": {"boxes": boxes, "scores": scores},
            "postprocess": asdict(PostprocessParams()),
            "metric": ("Metric: COCO mAP@0.5:0.95 and mAP@0.5 (numpy, pycocotools' algorithm: detection_metrics.py) "
                       "of the detections after edgecv's score threshold, top-k and per-class NMS "
                       "(detection_postprocess.py, thresholds under 'postprocess'), in model-input pixels against "
                       "val.npz's boxes; box_geometry.to_source_pixels maps boxes back to each image's "
                       "source_sizes.")}
