"""The first stage: the model as the recipe describes it (built, checkpoint loaded), saved and measured."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from edgecv.artifacts import StageResult
from edgecv.stages.contract import ANY_FORMAT, Stage, register_stage

if TYPE_CHECKING:
    from edgecv.stages.base import CurrentModel, RunContext


@register_stage
class LoadStage(Stage):
    """Saves the preflight-built model (from the zoo, a checkpoint or a factory) as the run's first artifact."""

    kind = "load"
    accepts = ANY_FORMAT  # it is first: there is no current model yet
    produces = "torch"

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        from edgecv.stages.base import save_torch_artifact, torch_val_metrics

        started = time.perf_counter()
        module = ctx.initial_model
        assert module is not None, "the pipeline builds the model before the first stage"
        artifact = save_torch_artifact(module, folder, "original", ctx, parent=None, arch=ctx.recipe.model.arch)
        current.module = module
        metrics = torch_val_metrics(module, ctx) if ctx.recipe.model.checkpoint or ctx.recipe.model.pretrained else {}
        return StageResult(
            stage=folder.name,
            kind=self.kind,
            outputs=[artifact],
            metrics=metrics,
            seconds=time.perf_counter() - started,
        )
