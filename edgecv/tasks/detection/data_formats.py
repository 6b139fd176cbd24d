"""Detection datasets on disk: YOLO txt (``images/`` + ``labels/``) and COCO JSON, images of any size.

Every dataset yields ``(uint8 CHW RGB image, {"boxes": float32 (N, 4) xyxy in image pixels, "labels": int64
(N,)})``; ``targets`` holds one class per image (its first box's, -1 for none) so seeded splits can stratify.

Example::

    dataset = yolo_dataset(Path("coco128"), "data.train")
    image, target = dataset[0]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from edgecv.data.imagefolder import decode_image
from edgecv.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DetectionDataset(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """Image paths with their boxes (xyxy pixels once decoded); images are decoded when indexed."""

    def __init__(self, images: list[Path], boxes: list[np.ndarray], labels: list[np.ndarray], classes: list[str],
                 normalized: bool) -> None:
        self.images, self.boxes, self.labels, self.classes = images, boxes, labels, classes
        self.normalized = normalized
        self.targets = [int(lab[0]) if len(lab) else -1 for lab in labels]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image = decode_image(self.images[index])
        boxes = torch.from_numpy(self.boxes[index].astype(np.float32)).reshape(-1, 4)
        if self.normalized:  # YOLO: cx cy w h in [0, 1]
            h, w = image.shape[-2:]
            cx, cy, bw, bh = boxes.unbind(1)
            boxes = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], 1)
        return image, {"boxes": boxes, "labels": torch.from_numpy(self.labels[index].astype(np.int64))}


def _names_from_yaml(path: Path) -> list[str] | None:
    import yaml

    try:
        names = (yaml.safe_load(path.read_text()) or {}).get("names")
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read the class names ({exc}); fix the YAML or remove the file") from exc
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    return [str(n) for n in names] if isinstance(names, list) else None


def class_names(root: Path) -> list[str] | None:
    """Class names from ``classes.txt`` (one per line) or a ``data.yaml`` ``names`` list/dict, in root or above."""
    for folder in (root, root.parent):
        if (folder / "classes.txt").is_file():
            return [line.strip() for line in (folder / "classes.txt").read_text().splitlines() if line.strip()]
        for name in ("data.yaml", "dataset.yaml"):
            if (folder / name).is_file():
                names = _names_from_yaml(folder / name)
                if names:
                    return names
    return None


def _read_yolo_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in parts[:5]]
        except ValueError:
            values = []
        if len(parts) < 5 or len(values) < 5 or values[0] < 0 or values[0] != int(values[0]):
            raise DataError(f"{path}:{number}: expected 'class cx cy w h' (class a non-negative integer, the rest "
                            f"normalized to 0-1), got {line.strip()!r}; fix or remove the line")
        rows.append(values)
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return table[:, 1:], table[:, 0].astype(np.int64)


def yolo_dataset(root: Path, field: str) -> DetectionDataset:
    """A YOLO folder: ``images/**`` with ``labels/**`` txt files of the same relative path (missing: no boxes)."""
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise DataError(f"{field}: {root} has no images/ folder; a YOLO dataset is images/ + labels/", field=field)
    images = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{field}: no images under {images_dir}; add .jpg/.png files", field=field)
    boxes, labels = [], []
    for image in images:
        b, lab = _read_yolo_labels((root / "labels" / image.relative_to(images_dir)).with_suffix(".txt"))
        boxes.append(b)
        labels.append(lab)
    names = class_names(root)
    top = max([int(lab.max()) for lab in labels if len(lab)], default=-1)
    if names is None:
        names = [str(i) for i in range(top + 1)] or ["0"]
    elif top >= len(names):
        raise DataError(f"{field}: a label file uses class {top} but {root} names {len(names)} classes; add the "
                        "missing names to classes.txt/data.yaml or fix the labels", field=field)
    return DetectionDataset(images, boxes, labels, names, normalized=True)


def coco_dataset(path: Path, field: str) -> DetectionDataset:
    """A COCO JSON file; images are looked up beside it, then in its ``images/`` folder."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        categories = sorted(data["categories"], key=lambda c: c["id"])
        entries = data["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{field}: {path} is not COCO JSON with images and categories ({exc}); fix the file",
                        field=field) from exc
    index = {c["id"]: i for i, c in enumerate(categories)}
    per_image: dict[Any, list[tuple[list[float], int]]] = {e["id"]: [] for e in entries}
    for a in data.get("annotations", []):
        if a.get("iscrowd", 0) or a["image_id"] not in per_image:
            continue
        if a["category_id"] not in index:
            raise DataError(f"{field}: {path}: annotation {a.get('id')} has category {a['category_id']}, which is not "
                            "in categories; add it or remove the annotation", field=field)
        x, y, w, h = (float(v) for v in a["bbox"])
        per_image[a["image_id"]].append(([x, y, x + w, y + h], index[a["category_id"]]))
    images, boxes, labels = [], [], []
    for entry in entries:
        candidates = [path.parent / entry["file_name"], path.parent / "images" / entry["file_name"]]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{field}: image {entry['file_name']} of {path} is neither beside it nor in images/; "
                            "put the images there", field=field)
        rows = per_image[entry["id"]]
        images.append(found)
        boxes.append(np.asarray([r[0] for r in rows], dtype=np.float64).reshape(-1, 4))
        labels.append(np.asarray([r[1] for r in rows], dtype=np.int64))
    return DetectionDataset(images, boxes, labels, [str(c["name"]) for c in categories], normalized=False)


def detect_format(path: Path) -> str:
    """``coco`` for a .json file (or a folder holding one), ``yolo`` for a folder with images/."""
    if path.suffix == ".json" or (path.is_dir() and not (path / "images").is_dir() and any(path.glob("*.json"))):
        return "coco"
    return "yolo"


def open_detection(path: Path, fmt: str, field: str) -> DetectionDataset:
    """The dataset at ``path`` in ``fmt`` (``auto`` guesses from the layout)."""
    if not path.exists():
        raise DataError(f"{field}: {path} does not exist; give a YOLO folder or a COCO .json", field=field)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "coco":
        if path.is_dir():
            path = sorted(path.glob("*.json"))[0]
        return coco_dataset(path, field)
    if fmt == "yolo":
        return yolo_dataset(path, field)
    raise DataError(f"data.format: {fmt!r} is not a detection format; use yolo, coco or auto", field="data.format")
