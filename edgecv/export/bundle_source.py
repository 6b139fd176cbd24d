"""What a deploy bundle is made from: the ONNX artifact, the val images at the model's size, edgecv's accuracy.

Two ways in: :func:`source_from_run` reads a finished run folder (``edgecv deploy RUN_DIR``), and
:func:`source_from_context` takes a running pipeline's context (the ``deploy`` stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgecv.artifacts import ModelArtifact, Preprocessing
from edgecv.devices import DeviceProfile
from edgecv.errors import RecipeError
from edgecv.report.schema import Validation


@dataclass
class BundleSource:
    """The inputs of one bundle. ``images`` are uint8 NCHW RGB at the model's input size."""

    artifact: ModelArtifact
    labels: list[str]
    images: np.ndarray
    targets: np.ndarray
    validations: list[Validation] = field(default_factory=list)
    recipe_hash: str | None = None
    run_dir: Path | None = None
    libraries: dict[str, str] = field(default_factory=dict)

    def measured_accuracy(self, device: str) -> dict[str, Any] | None:
        """edgecv's validation of this artifact: on ``device`` if it was validated for it, else the first one."""
        mine = [v for v in self.validations if v.artifact == self.artifact.name]
        chosen = next((v for v in mine if v.device == device), mine[0] if mine else None)
        if chosen is None:
            return None
        return {
            "device": chosen.device,
            "backend": chosen.backend,
            "precision": chosen.precision,
            **{k: chosen.metrics.get(k) for k in ("top1", "top5", "top1_delta")},
        }


def serves(artifact: ModelArtifact, device: DeviceProfile) -> bool:
    return not artifact.targets or device.name in artifact.targets


def select_artifact(artifacts: list[ModelArtifact], device: DeviceProfile, name: str | None) -> ModelArtifact:
    """The ONNX artifact named ``name``, else the last ONNX artifact meant for ``device`` (the most compressed)."""
    onnx = [a for a in artifacts if a.format == "onnx"]
    if name is not None:
        found = [a for a in onnx if a.name == name]
        if not found:
            raise RecipeError(
                f"no ONNX artifact '{name}' in the run; its ONNX artifacts: {', '.join(a.name for a in onnx) or 'none'}"
            )
        return found[0]
    candidates = [a for a in onnx if serves(a, device)]
    if not candidates:
        raise RecipeError(f"the run has no ONNX artifact for device '{device.name}'; give one with --artifact")
    return candidates[-1]


def to_model_size(image: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """A uint8 CHW image at the model's size: unchanged when it already is, else resized as edgecv does, rounded."""
    if tuple(image.shape[-2:]) == tuple(pre.size):
        return image.to(torch.uint8)
    x = F.interpolate(image.float().unsqueeze(0), size=pre.size, mode="bilinear", align_corners=False, antialias=True)[
        0
    ]
    return x.round().clamp(0, 255).to(torch.uint8)


def sample_images(dataset: Any, pre: Preprocessing, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` class-balanced val images (seeded) at the model's size, and their labels."""
    from edgecv.data import calibration_subset

    c, h, w = 3, *pre.size
    if count <= 0 or len(dataset) == 0:
        return np.zeros((0, c, h, w), np.uint8), np.zeros((0,), np.int64)
    subset = calibration_subset(dataset, count, seed)
    pairs = [subset[i] for i in range(len(subset))]
    images = np.stack([to_model_size(img, pre).numpy() for img, _ in pairs])
    return images, np.asarray([int(label) for _, label in pairs], dtype=np.int64)


def source_from_run(run_dir: Path, device: DeviceProfile, artifact: str | None, images: int) -> BundleSource:
    """Read a finished run: report.json for artifacts and validations, its recipe's data for the val images."""
    from edgecv.data import load_datasets
    from edgecv.recipe import parse_recipe
    from edgecv.report.build import load_report

    if not (run_dir / "report.json").is_file():
        raise RecipeError(f"{run_dir}: no report.json; give a finished run folder (runs/<name>/<run-id>)")
    report = load_report(run_dir)
    chosen = select_artifact(report.artifacts, device, artifact)
    if not Path(chosen.path).is_file():
        raise RecipeError(f"{chosen.path}: the artifact's ONNX file is gone; re-run the recipe")
    pictures, targets = np.zeros((0, 3, *chosen.preprocessing.size), np.uint8), np.zeros((0,), np.int64)
    if images > 0:
        recipe = parse_recipe(dict(report.recipe), f"{run_dir}/report.json", run_dir)
        pictures, targets = sample_images(load_datasets(recipe.data).val, chosen.preprocessing, images)
    return BundleSource(
        artifact=chosen,
        labels=report.labels or list(chosen.preprocessing.labels),
        images=pictures,
        targets=targets,
        validations=report.validations,
        recipe_hash=report.recipe_hash,
        run_dir=run_dir,
        libraries=dict(report.environment.libraries),
    )


def source_from_context(ctx: Any, device: DeviceProfile, images: int) -> BundleSource:
    """The same from a running pipeline (a RunContext whose validate stage has finished)."""
    from edgecv.environment import library_versions

    artifacts = [a for r in ctx.results for a in r.outputs]
    validations = [Validation.model_validate(v) for r in ctx.results for v in r.metrics.get("validations", [])]
    chosen = select_artifact(artifacts, device, None)
    pictures, targets = sample_images(ctx.splits.val, chosen.preprocessing, images)
    return BundleSource(
        artifact=chosen,
        labels=list(ctx.splits.labels),
        images=pictures,
        targets=targets,
        validations=validations,
        recipe_hash=ctx.recipe.digest(),
        run_dir=ctx.run_dir,
        libraries=library_versions(),
    )
