"""Segmentation datasets on disk: an image folder and a folder of PNG label maps beside it, matched by file stem.

Accepted layouts for ``data.train`` / ``data.val`` (a folder of images):

- CamVid/SegNet: ``train/`` with ``trainannot/`` beside it (the image folder's name + ``annot``);
- VOC-style: ``<root>/images/`` with ``<root>/labels/`` or ``<root>/masks/`` (``data.train`` may name ``<root>``
  or ``<root>/images``); ``JPEGImages/`` with ``SegmentationClass/``.

A label map is a single-channel PNG (8-bit gray or palette mode: each pixel's value is its class index). Every
dataset yields ``(uint8 CHW RGB image, int64 (H, W) label map)``, both at the file's size.

Example::

    dataset = labelmap_dataset(Path("camvid/val"), "data.val")
    image, label = dataset[0]          # (3, 360, 480) uint8, (360, 480) int64
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from edgecv.data.imagefolder import decode_image
from edgecv.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
LABEL_DIRS = ("labels", "masks")
LAYOUTS = ("<images>/ with <images>annot/ beside it (CamVid: train + trainannot), <root>/images/ with "
           "<root>/labels/ or <root>/masks/, or JPEGImages/ with SegmentationClass/")


def read_label_map(path: Path) -> torch.Tensor:
    """A PNG label map as an int64 (H, W) tensor of class indices; DataError for a color (RGB) label map."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise DataError(f"{path}: a {img.mode} image, not a label map (one class index per pixel, 8-bit gray "
                                "or palette PNG); convert color masks to class indices")
            array = np.asarray(img, dtype=np.int64)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the label map ({exc}); remove or replace it") from exc
    return torch.from_numpy(array.copy())


IGNORED = -100
"""What pixels of the ignore index become: torch's cross-entropy default ``ignore_index``; no metric counts them."""


class LabelMapDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Image paths with their label-map paths; both are decoded when indexed, ``ignore_index`` pixels -> IGNORED."""

    def __init__(self, images: list[Path], labels: list[Path], classes: list[str],
                 ignore_index: int | None = None) -> None:
        self.images, self.labels, self.classes, self.ignore_index = images, labels, classes, ignore_index
        self.targets = [0] * len(images)  # one stratum: splits are seeded random draws

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            image = decode_image(self.images[index])
        except Exception as exc:  # PIL raises many types for a bad file
            raise DataError(f"{self.images[index]}: cannot decode the image ({exc}); remove or replace it") from exc
        label = read_label_map(self.labels[index])
        if tuple(label.shape) != tuple(image.shape[-2:]):
            raise DataError(f"{self.labels[index]}: label map is {tuple(label.shape)} but its image is "
                            f"{tuple(image.shape[-2:])} (height, width); they must be the same size")
        if self.ignore_index is not None:
            label[label == self.ignore_index] = IGNORED
        top = int(label.max())
        if self.classes and top >= len(self.classes):
            raise DataError(f"{self.labels[index]}: label value {top} is neither one of the {len(self.classes)} "
                            "classes (data.class_names) nor data.ignore_index; fix the label map, name the class or "
                            "set data.ignore_index", field="data.class_names")
        return image, label

    def palette(self) -> list[tuple[int, int, int]] | None:
        """The RGB palette of the first label map when it is a palette PNG (the dataset's class colours), else
        None."""
        if not self.labels:
            return None
        try:
            with Image.open(self.labels[0]) as img:
                values = img.getpalette() if img.mode == "P" else None
        except OSError:
            return None
        if not values:
            return None
        return [(values[i], values[i + 1], values[i + 2]) for i in range(0, len(values) - 2, 3)]


def find_folders(path: Path, field: str) -> tuple[Path, Path]:
    """The image folder and the label folder of ``path``; DataError naming the accepted layouts."""
    if not path.is_dir():
        raise DataError(f"{field}: {path} is not a folder; give the image folder of {LAYOUTS}", field=field)
    candidates = [(path, path.with_name(path.name + "annot"))]
    candidates += [(path / "images", path / d) for d in LABEL_DIRS]
    candidates += [(path, path.parent / d) for d in LABEL_DIRS if path.name == "images"]
    candidates += [(path / "JPEGImages", path / "SegmentationClass")]
    candidates += [(path, path.parent / "SegmentationClass")] if path.name == "JPEGImages" else []
    for images, labels in candidates:
        if images.is_dir() and labels.is_dir():
            return images, labels
    raise DataError(f"{field}: no label-map folder found for {path}; accepted layouts: {LAYOUTS}", field=field)


def labelmap_dataset(path: Path, field: str, classes: list[str] | None = None,
                     ignore_index: int | None = None) -> LabelMapDataset:
    """Images under ``path`` and their label maps (same stem, ``.png``) in the layouts of the module docstring."""
    images_dir, labels_dir = find_folders(path, field)
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{field}: no images in {images_dir}; add .jpg/.png files", field=field)
    labels = [labels_dir / f"{p.stem}.png" for p in images]
    missing = [p.name for p in labels if not p.is_file()]
    if missing:
        raise DataError(f"{field}: {len(missing)} of {len(images)} images have no label map in {labels_dir} (e.g. "
                        f"{missing[0]}); each image needs a PNG label map of the same stem", field=field)
    return LabelMapDataset(images, labels, classes or [], ignore_index)
