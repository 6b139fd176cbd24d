"""Export the current torch model to ONNX and check that ONNX Runtime computes the same logits."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from edgecv.artifacts import ModelArtifact, StageResult, sha256_file
from edgecv.data import make_loader
from edgecv.errors import ValidationFailure
from edgecv.export.onnx import choose_opset, export_onnx
from edgecv.runtime import OrtRunner, TorchRunner
from edgecv.stages.base import CurrentModel, RunContext, Stage
from edgecv.validate.accuracy import runner_logits
from edgecv.validate.parity import ParityResult, compare_outputs


def parity_check(
    ctx: RunContext, reference: TorchRunner | OrtRunner, candidate: OrtRunner, names: tuple[str, str], tolerance: object
) -> ParityResult:
    """Compare two runners on the first ``parity.samples`` val images."""
    samples = ctx.recipe.export.parity.samples
    subset = torch.utils.data.Subset(ctx.splits.val, range(min(samples, len(ctx.splits.val))))
    loader = make_loader(subset, ctx.preprocessing, 64)
    ref, _ = runner_logits(reference, loader)
    cand, _ = runner_logits(candidate, loader)
    return compare_outputs(ref, cand, tolerance, names)


class ExportOnnxStage(Stage):
    """ONNX export (opset from the recipe or the target devices), simplification, checker, parity vs torch."""

    kind = "export-onnx"

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        started = time.perf_counter()
        section = ctx.recipe.export
        opset = choose_opset(section.opset, [d.software.max_onnx_opset for d in ctx.devices])
        module = current.torch_module()
        spec = ctx.input_spec.model_copy(update={"dynamic_batch": section.dynamic_batch})
        path = export_onnx(module, spec, folder / "model.onnx", opset=opset, simplify=section.simplify)
        artifact = ModelArtifact(
            name=f"{current.artifact.name}-onnx",
            format="onnx",
            path=str(path),
            input=spec,
            preprocessing=ctx.preprocessing,
            precision="fp32",
            size_bytes=path.stat().st_size,
            params=current.artifact.params,
            macs=current.artifact.macs,
            sha256=sha256_file(path),
            parent=current.artifact.name,
            arch=current.artifact.arch,
        )
        with OrtRunner(path, threads=ctx.recipe.validate_.threads) as onnx_runner:
            parity = parity_check(
                ctx, TorchRunner(module), onnx_runner, (current.artifact.name, artifact.name), section.parity
            )
        if not parity.passed:
            raise ValidationFailure(
                f"{folder / 'model.onnx'}: ONNX Runtime output differs from torch ({parity.reason}); "
                "loosen export.parity only if the difference is expected"
            )
        metrics = {
            "opset": opset,
            "simplified": section.simplify,
            "parity": parity.model_dump(),
            "onnx_size_mb": round(artifact.size_bytes / 1e6, 4),
        }
        return StageResult(
            stage=folder.name,
            kind=self.kind,
            inputs=[current.artifact.name],
            outputs=[artifact],
            metrics=metrics,
            seconds=time.perf_counter() - started,
        )
