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
    """The inputs of one bundle. ``images`` are uint8 NCHW RGB at the model's input size; ``targets`` their ground
    truth (val.npz's ``labels``: classes, the boxes' classes, or label maps) and ``extra`` the task's other val.npz
    arrays (a detector's boxes); see the task's ``bundle_val``."""

    artifact: ModelArtifact
    labels: list[str]
    images: np.ndarray
    targets: np.ndarray
    task: str = "classification"
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    validations: list[Validation] = field(default_factory=list)
    why: str = "given"
    """Why this artifact is the one bundled (see select_artifact)."""
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
            **{k: v for k, v in chosen.metrics.items() if not k.startswith(("torch_", "device_"))},
        }

    def val_arrays(self) -> dict[str, np.ndarray]:
        """What val.npz holds: ``images``, ``labels`` (the ground truth) and the task's other arrays."""
        return {"images": self.images, "labels": self.targets, **self.extra}



PRECISION_ORDER = {"int8": 0, "mixed": 1, "fp16": 2, "fp32": 3}
"""Most compressed first: INT8, INT8 with layers kept in float, FP16, FP32."""


def compression_rank(artifact: ModelArtifact) -> tuple[int, float, float]:
    """Sort key, most compressed first: precision, then MACs, then file size."""
    macs = float(artifact.macs) if artifact.macs else float("inf")
    return PRECISION_ORDER.get(artifact.precision, len(PRECISION_ORDER)), macs, float(artifact.size_bytes or 0)


def final_artifact(artifacts: list[ModelArtifact], device: DeviceProfile) -> tuple[ModelArtifact, str] | None:
    """The run's final artifact for ``device`` (the most compressed ONNX made for it) and why it was chosen.

    The export stage's FP32 exports come after the quantize stage's artifacts in a run, so "the last one" would
    bundle the uncompressed model; ranking by precision, MACs and size does not depend on the stage order.
    """
    candidates = [a for a in artifacts if a.format == "onnx" and a.serves(device.name)]
    if not candidates:
        return None
    chosen = min(reversed(candidates), key=compression_rank)  # ties: the later one (it came out of more stages)
    others = [f"{a.name} ({a.precision})" for a in candidates if a is not chosen]
    why = (
        f"the most compressed of the run's {len(candidates)} ONNX artifact(s) for {device.name} "
        f"({chosen.precision}" + (f", {chosen.macs / 1e6:.1f} M MACs" if chosen.macs else "") + ")"
        + (f"; the others: {', '.join(others)} (choose one with --artifact)" if others else "")
    )
    return chosen, why


def select_artifact(
    artifacts: list[ModelArtifact], device: DeviceProfile, name: str | None
) -> tuple[ModelArtifact, str]:
    """The ONNX artifact named ``name``, else the run's final artifact for ``device``; with the reason."""
    onnx = [a for a in artifacts if a.format == "onnx"]
    if name is not None:
        found = [a for a in onnx if a.name == name]
        if not found:
            raise RecipeError(
                f"no ONNX artifact '{name}' in the run; its ONNX artifacts: {', '.join(a.name for a in onnx) or 'none'}"
            )
        return found[0], f"named with --artifact ({found[0].precision})"
    final = final_artifact(artifacts, device)
    if final is None:
        raise RecipeError(f"the run has no ONNX artifact for device '{device.name}'; give one with --artifact")
    return final


def to_model_size(image: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """A uint8 CHW image at the model's size: unchanged when it already is, else resized as edgecv does, rounded."""
    if tuple(image.shape[-2:]) == tuple(pre.size):
        return image.to(torch.uint8)
    x = F.interpolate(image.float().unsqueeze(0), size=pre.size, mode="bilinear", align_corners=False, antialias=True)[
        0
    ]
    return x.round().clamp(0, 255).to(torch.uint8)


def sample_val(task_name: str, dataset: Any, pre: Preprocessing, count: int) -> dict[str, np.ndarray]:
    """The task's bundled val arrays (``images``, ``labels``, its others) of ``count`` images of ``dataset``."""
    from edgecv.tasks import get_task

    return get_task(task_name).bundle_val(dataset, pre, count, seed=0)


def _split(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rest = {k: v for k, v in arrays.items() if k not in ("images", "labels")}
    return arrays["images"], arrays["labels"], rest


def _file_in_run(run_dir: Path, recorded: Path, artifact: ModelArtifact) -> Path:
    """The artifact's file in ``run_dir`` (also when the run was moved or copied; the path report.json recorded
    may point at the original run, whose file must not stand in for a missing one), checked against its sha256."""
    from edgecv.artifacts import sha256_file

    path = Path(artifact.path)
    if path.is_relative_to(recorded):  # else recorded outside its run folder: use it as recorded
        path = run_dir / path.relative_to(recorded)
    if not path.is_file():
        raise RecipeError(
            f"{run_dir}: the ONNX file of artifact '{artifact.name}' ({path}) is missing; "
            "restore it or re-run the recipe"
        )
    if artifact.sha256 and sha256_file(path) != artifact.sha256:
        raise RecipeError(
            f"{path}: not the ONNX file run {run_dir} recorded for '{artifact.name}' (sha256 differs); "
            "restore it or re-run the recipe"
        )
    return path


def source_from_run(run_dir: Path, device: DeviceProfile, artifact: str | None, images: int) -> BundleSource:
    """Read a finished run: report.json for artifacts and validations, its recipe's data for the val images."""
    from edgecv.recipe import parse_recipe
    from edgecv.report.build import load_report
    from edgecv.tasks import get_task

    if not (run_dir / "report.json").is_file():
        raise RecipeError(f"{run_dir}: no report.json; give a finished run folder (runs/<name>/<run-id>)")
    report = load_report(run_dir)
    chosen, why = select_artifact(report.artifacts, device, artifact)
    chosen = chosen.model_copy(update={"path": str(_file_in_run(run_dir, Path(report.run_dir), chosen))})
    recipe = parse_recipe(dict(report.recipe), f"{run_dir}/report.json", run_dir)
    val = get_task(recipe.task).load_datasets(recipe.data).val if images > 0 else []
    pictures, targets, extra = _split(sample_val(recipe.task, val, chosen.preprocessing, images))
    return BundleSource(
        artifact=chosen,
        labels=report.labels or list(chosen.preprocessing.labels),
        images=pictures,
        targets=targets,
        task=recipe.task,
        extra=extra,
        validations=report.validations,
        why=why,
        recipe_hash=report.recipe_hash,
        run_dir=run_dir,
        libraries=dict(report.environment.libraries),
    )


def source_from_context(ctx: Any, device: DeviceProfile, images: int) -> BundleSource:
    """The same from a running pipeline (a RunContext whose validate stage has finished)."""
    from edgecv.environment import library_versions

    artifacts = [a for r in ctx.results for a in r.outputs]
    validations = [Validation.model_validate(v) for r in ctx.results for v in r.metrics.get("validations", [])]
    chosen, why = select_artifact(artifacts, device, None)
    pictures, targets, extra = _split(sample_val(ctx.recipe.task, ctx.splits.val, chosen.preprocessing, images))
    return BundleSource(
        artifact=chosen,
        labels=list(ctx.splits.labels),
        images=pictures,
        targets=targets,
        task=ctx.recipe.task,
        extra=extra,
        validations=validations,
        why=why,
        recipe_hash=ctx.recipe.digest(),
        run_dir=ctx.run_dir,
        libraries=library_versions(),
    )
