"""The first stage for a user's ONNX model (``model.onnx``): the graph checked, in the task's form, saved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from edgecv.artifacts import ModelArtifact, StageResult, atomic_save, sha256_file
from edgecv.stages.contract import ANY_FORMAT, Stage, register_stage

if TYPE_CHECKING:
    from edgecv.models.onnx_input import PreparedOnnx
    from edgecv.stages.base import CurrentModel, RunContext

CONVERSION_TOLERANCE = 1e-4
"""Largest |output difference| between the given file and the converted graph, relative to its largest output."""


@register_stage
class LoadOnnxStage(Stage):
    """Writes the user's graph at the run's opset, with the task's outputs, as the run's FP32 baseline artifact.

    Its accuracy is measured in the validate stage like any exported model (there is no torch model to compare).
    """

    kind = "load-onnx"
    accepts = ANY_FORMAT  # it is first: there is no current model yet
    produces = "onnx"

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        import onnx

        from edgecv.models.onnx_input import count_onnx_params, prepare_onnx_model
        from edgecv.validate.onnx_cost import graph_cost

        started = time.perf_counter()
        prepared = prepare_onnx_model(ctx.recipe, ctx.devices, ctx.splits.num_classes)
        difference = self._conversion_check(ctx, prepared)
        path = folder / "original.onnx"
        atomic_save(path, lambda tmp: onnx.save(prepared.model, str(tmp)))
        section = ctx.recipe.model
        artifact = ModelArtifact(
            name="original", format="onnx", path=str(path), input=ctx.input_spec, preprocessing=ctx.preprocessing,
            precision="fp32", size_bytes=path.stat().st_size, params=count_onnx_params(prepared.model),
            macs=int(sum(c.macs for c in graph_cost(path, batch=1))), sha256=sha256_file(path), parent=None,
            arch=section.label,
        )
        info = prepared.info
        metrics = {
            "source": str(section.onnx), "source_sha256": sha256_file(Path(str(section.onnx))),
            "source_opset": info.opset, "opset": prepared.opset, "input": info.input_name,
            "fixed_batch": info.fixed_batch, "outputs": info.outputs,
            "task_outputs": [o.name for o in prepared.model.graph.output],
            "simplified": ctx.recipe.export.simplify, "conversion_max_abs_diff": difference,
        }
        return StageResult(stage=folder.name, kind=self.kind, outputs=[artifact], metrics=metrics,
                           seconds=time.perf_counter() - started)

    @staticmethod
    def _conversion_check(ctx: RunContext, prepared: PreparedOnnx) -> float:
        """The given file and the converted graph on the first ``export.parity.samples`` val images (at most 16):
        their chosen outputs must agree to float rounding (1e-4 of the output scale), else a ModelError."""
        import torch

        from edgecv.errors import ModelError
        from edgecv.models.onnx_input import conversion_difference

        samples = min(ctx.recipe.export.parity.samples, len(ctx.splits.val), 16)
        subset = torch.utils.data.Subset(ctx.splits.val, range(samples))
        fixed = prepared.info.fixed_batch
        batches = [x.numpy() for x, _ in ctx.loader(subset, fixed or 8) if fixed is None or len(x) == fixed]
        difference, scale = conversion_difference(prepared, batches)
        if difference > CONVERSION_TOLERANCE * max(1.0, scale):
            raise ModelError(f"model.onnx {ctx.recipe.model.onnx}: at opset {prepared.opset} (simplified: "
                             f"{ctx.recipe.export.simplify}) its outputs differ from the file's by {difference:.3g}; "
                             "set export.simplify: false, or export.opset to the file's own opset", field="model.onnx")
        return difference
