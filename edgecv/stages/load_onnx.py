"""The first stage for a user's ONNX model (``model.onnx``): the graph checked, in the task's form, saved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from edgecv.artifacts import ModelArtifact, StageResult, atomic_save, sha256_file
from edgecv.stages.contract import ANY_FORMAT, Stage, register_stage

if TYPE_CHECKING:
    from edgecv.stages.base import CurrentModel, RunContext


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
        }
        return StageResult(stage=folder.name, kind=self.kind, outputs=[artifact], metrics=metrics,
                           seconds=time.perf_counter() - started)
