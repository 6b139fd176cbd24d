"""Export torch models to ONNX and check that ONNX Runtime computes the same logits as torch.

The export stage exports the reference model (what the recipe loaded or trained) and the final compressed torch
model, when they differ, so every later comparison has its FP32 baseline on the same runtime.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecv.artifacts import ModelArtifact, StageResult, sha256_file
from edgecv.errors import ModelError, RecipeError
from edgecv.stages.contract import ANY_FORMAT, REFERENCE_KINDS, Stage, StageCheck, register_stage
from edgecv.tasks.base import Task

if TYPE_CHECKING:
    from torch import nn

    from edgecv.runtime import OrtRunner
    from edgecv.runtime.base import Runner
    from edgecv.stages.base import CurrentModel, RunContext
    from edgecv.validate.parity import ParityResult

MAX_LEGACY_OPSET = 17
"""The highest opset torch's legacy exporter honours (the one that exports NNCF's fake-quantized modules)."""


def export_opset(recipe: Any, devices: list[Any]) -> int:
    """The recipe's opset, else the lowest limit among the target devices, capped at what the exporter honours."""
    if recipe.export.opset is not None:
        return int(recipe.export.opset)
    return min([MAX_LEGACY_OPSET, *(d.software.max_onnx_opset for d in devices)])


def parity_check(
    ctx: RunContext, reference: Runner, candidate: Runner, names: tuple[str, str], tolerance: object, *,
    judged_by: str | None = None, store: Path | None = None,
) -> ParityResult:
    """Compare two runners on the first ``export.parity.samples`` val images (outputs and top-1 on their labels).

    ``judged_by`` is the recipe key of ``tolerance``; ``store`` (a ``.parity.npz`` path) keeps the outputs, so
    the verdict can be re-judged on ``--resume`` without the models.
    """
    import torch

    from edgecv.data import make_loader
    from edgecv.validate.accuracy import runner_logits
    from edgecv.validate.parity import compare_outputs, save_comparison

    samples = ctx.recipe.export.parity.samples
    subset = torch.utils.data.Subset(ctx.splits.val, range(min(samples, len(ctx.splits.val))))
    if type(ctx.task).parity is not Task.parity:  # the task compares its own outputs by name (a detector)
        return _task_parity(ctx, reference, candidate, subset, names, tolerance, judged_by)
    loader = make_loader(subset, ctx.preprocessing, 64)
    ref, labels = runner_logits(reference, loader)
    cand, _ = runner_logits(candidate, loader)
    if store is not None:
        save_comparison(store, ref, cand, labels)
    return compare_outputs(ref, cand, tolerance, names, labels, judged_by=judged_by,
                           comparison=store.name if store is not None else None)


def _task_parity(
    ctx: RunContext, reference: Runner, candidate: Runner, subset: Any, names: tuple[str, str], tolerance: object,
    judged_by: str | None,
) -> ParityResult:
    """The task's comparison of every output by name on ``subset`` (not stored: it is judged once)."""
    import numpy as np

    ref: dict[str, list[np.ndarray]] = {}
    cand: dict[str, list[np.ndarray]] = {}
    targets: list[Any] = []
    for images, batch_targets in ctx.loader(subset, 16):
        targets.extend(batch_targets)
        for store, runner in ((ref, reference), (cand, candidate)):
            for key, value in runner.infer_all(images.numpy()).items():
                store.setdefault(key, []).append(value)
    joined = [{k: np.concatenate(v) for k, v in d.items()} for d in (ref, cand)]
    return ctx.task.parity(joined[0], joined[1], tolerance, names, judged_by=judged_by, targets=targets)


def comparison_path(path: Path) -> Path:
    """Where the parity outputs of the artifact at ``path`` are stored: ``<stem>.parity.npz`` beside it."""
    return path.with_name(f"{path.stem}.parity.npz")


def export_checked(
    ctx: RunContext, module: nn.Module, source: ModelArtifact, path: Path, *, name: str, tolerance: Any = None,
    precision: str = "fp32", targets: list[str] | None = None, judged_by: str | None = None,
) -> tuple[ModelArtifact, ParityResult]:
    """Export ``module`` to ``path``, describe it as an artifact, and compare it with torch.

    The verdict is returned, not raised: the pipeline stops on a failed one (``mode: fail``) after the stage's
    result is stored, so a loosened tolerance re-judges it on ``--resume``. ``tolerance`` defaults to
    ``export.parity`` (``judged_by`` names the recipe key of the one given).
    """
    from edgecv.export.onnx import export_onnx
    from edgecv.runtime import OrtRunner, TorchRunner

    section = ctx.recipe.export
    opset = export_opset(ctx.recipe, ctx.devices)
    spec = ctx.input_spec.model_copy(update={"dynamic_batch": section.dynamic_batch})
    export_onnx(ctx.task.export_module(module), spec, path, opset=opset, simplify=section.simplify)
    artifact = ModelArtifact(
        name=name, format="onnx", path=str(path), input=spec, preprocessing=ctx.preprocessing,
        precision=precision, size_bytes=path.stat().st_size, params=source.params, macs=source.macs,  # type: ignore[arg-type]
        sha256=sha256_file(path), parent=source.name, arch=source.arch, targets=targets or [],
    )
    if tolerance is None:
        tolerance, judged_by = section.parity, "export.parity"
    with OrtRunner(path, threads=ctx.recipe.validate_.threads) as onnx_runner:
        if spec.dynamic_batch:
            _require_dynamic_batch(onnx_runner, spec, path)
        parity = parity_check(ctx, TorchRunner(module), onnx_runner, (source.name, name), tolerance,
                              judged_by=judged_by, store=comparison_path(path))
    return artifact, parity


def _require_dynamic_batch(runner: OrtRunner, spec: Any, path: Path) -> None:
    """A dynamic-batch export must really run at batch 2; a traced constant batch is a ModelError with the fix."""
    import numpy as np

    try:
        runner.infer_all(np.zeros((2, *spec.shape), dtype=np.float32))
    except Exception as exc:
        raise ModelError(
            f"{path.name} was exported with a dynamic batch but fails at batch 2 ({str(exc).splitlines()[0][:160]}): "
            "the model's forward fixes the batch size (e.g. x.data.size() or a Python int in a reshape); set "
            "export.dynamic_batch: false (accuracy then runs image by image) or make the reshape use x.shape",
            field="export.dynamic_batch",
        ) from exc


def torch_artifacts_to_export(ctx: RunContext, current: CurrentModel) -> list[CurrentModel]:
    """The reference torch model (last load/train output) and the final torch model, if it is another one."""
    from edgecv.stages.base import CurrentModel

    torch_outputs = [(r.kind, a) for r in ctx.results for a in r.outputs if a.format == "torch"]
    if not torch_outputs:
        return []  # the model came as ONNX (model.onnx): its graph is the baseline already
    reference = [a for kind, a in torch_outputs if kind in REFERENCE_KINDS][-1]
    final = torch_outputs[-1][1]
    chosen = [reference] if reference.name == final.name else [reference, final]
    return [current if a.name == current.artifact.name else CurrentModel(artifact=a) for a in chosen]


@register_stage
class ExportOnnxStage(Stage):
    """ONNX export (opset from the recipe or the target devices), simplification, checker, parity vs torch."""

    kind = "export-onnx"
    accepts = ANY_FORMAT  # it exports the run's torch models, whatever the current one is
    produces = "onnx"

    @classmethod
    def check(cls, params: Any, check: StageCheck) -> None:
        """An opset the recipe forces must parse on every target device."""
        opset = check.recipe.export.opset
        too_old = [d for d in check.devices if opset is not None and opset > d.software.max_onnx_opset]
        if too_old:
            d = too_old[0]
            raise RecipeError(
                f"key 'export.opset': {d.name} (TensorRT {d.software.tensorrt}) parses ONNX opset "
                f"{d.software.max_onnx_opset} at most, not {opset}; lower export.opset or remove it (the default "
                "is the lowest limit of the target devices)"
            )
        from edgecv.tasks import get_task

        get_task(check.recipe.task).check_export(check.recipe.export, check.devices)

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        started = time.perf_counter()
        outputs, parities = [], []
        for model in torch_artifacts_to_export(ctx, current):
            artifact, parity = export_checked(
                ctx, model.torch_module(), model.artifact, folder / f"{model.artifact.name}.onnx",
                name=f"{model.artifact.name}-onnx",
            )
            outputs.append(artifact)
            parities.append(parity.model_dump())
        metrics: dict[str, Any] = {
            "opset": export_opset(ctx.recipe, ctx.devices),
            "simplified": ctx.recipe.export.simplify,
            "parity": parities,
        }
        if not outputs:
            metrics["note"] = "no PyTorch model to export: model.onnx is the run's FP32 baseline as given"
        earlier = [a for r in ctx.results for a in r.outputs if a.format == "onnx"]
        records, files, warnings = ctx.task.export_variants(ctx, [*outputs, *earlier], folder)
        metrics.update(records)
        return StageResult(
            stage=folder.name, kind=self.kind, inputs=[a.parent or "" for a in outputs], outputs=outputs,
            metrics=metrics, seconds=time.perf_counter() - started, files=files, warnings=warnings,
        )
