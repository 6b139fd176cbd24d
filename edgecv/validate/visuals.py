"""The report's pictures of a validation: a few val images drawn by the task for the baseline and the final
artifact, and the small curves their evaluators computed, in ``<validate folder>/visuals/``.

``visuals.json`` indexes them (what report.html reads; pixels never go into report.json)::

    {"legend": [["cat", "#ff2626"], ...], "truth": ["truth-0.png", ...],
     "artifacts": [{"role": "baseline", "artifact": "trained-onnx", "images": ["baseline-0.png", ...],
                    "curves": {"pr50": {"recall": [...], "precision": [...]}}}, ...]}

Every file is written atomically; :func:`write_visuals` returns them with their sha256 for the stage result, so
``--resume`` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecv.artifacts import Preprocessing, atomic_save, atomic_write_json, sha256_file
from edgecv.validate.samples import Samples

if TYPE_CHECKING:
    from PIL.Image import Image

    from edgecv.tasks.base import SampleDrawer

FOLDER = "visuals"
INDEX = "visuals.json"
SAMPLE_IMAGES = 4
"""Val images drawn per artifact: the first ones of the val loader (a fixed order)."""


@dataclass
class Shown:
    """One artifact the report shows: its role (``baseline`` or ``final``), name, kept samples and metrics."""

    role: str
    artifact: str
    samples: Samples
    metrics: dict[str, Any]


def input_image(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """A model input (3, H, W), normalized by ``pre``, back to the uint8 (H, W, 3) RGB image the model saw."""
    mean = np.asarray(pre.mean, dtype=np.float64).reshape(-1, 1, 1)
    std = np.asarray(pre.std, dtype=np.float64).reshape(-1, 1, 1)
    pixels = (np.asarray(x, dtype=np.float64) * std + mean) / pre.scale
    if pre.channel_order == "BGR":
        pixels = pixels[::-1]
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def write_visuals(folder: Path, run_dir: Path, drawer: SampleDrawer, pre: Preprocessing,
                  shown: list[Shown]) -> dict[str, str]:
    """Draw and write the pictures and visuals.json under ``folder/visuals``; ``{path relative to run_dir: sha256}``
    of every file written."""
    out = folder / FOLDER
    files: dict[str, str] = {}

    def save(picture: Image, name: str) -> str:
        path = out / name
        atomic_save(path, lambda tmp: picture.save(tmp, format="PNG", optimize=True))
        files[path.relative_to(run_dir).as_posix()] = sha256_file(path)
        return name

    first = shown[0].samples
    images = [input_image(x, pre) for x in first.images]
    truth = []
    for index, (image, target) in enumerate(zip(images, first.targets, strict=True)):
        picture = drawer.truth(image, target)
        if picture is not None:
            truth.append(save(picture, f"truth-{index}.png"))
    entries = []
    for entry in shown:
        pairs = zip(images, entry.samples.outputs, first.targets, strict=True)
        names = [save(drawer.prediction(image, output, target), f"{entry.role}-{index}.png")
                 for index, (image, output, target) in enumerate(pairs)]
        entries.append({"role": entry.role, "artifact": entry.artifact, "images": names,
                        "curves": entry.metrics.get("curves") or {}})
    index_path = out / INDEX
    atomic_write_json(index_path, {"legend": drawer.legend(), "truth": truth, "artifacts": entries})
    files[index_path.relative_to(run_dir).as_posix()] = sha256_file(index_path)
    return files
