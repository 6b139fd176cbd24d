"""Training (the recipe's ``train`` section) and fine-tuning (a ``finetune`` entry in ``stages``)."""

from __future__ import annotations

from pathlib import Path

from edgecv.artifacts import StageResult
from edgecv.stages.base import CurrentModel, RunContext, Stage, save_torch_artifact, torch_val_metrics
from edgecv.training import train_model


class TrainStage(Stage):
    """Train the current model with the shared loop; the best epoch (val top-1) becomes the output."""

    kind = "train"

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        module = current.torch_module()
        outcome = train_model(
            module,
            ctx.splits,
            ctx.preprocessing,
            self.params,
            workdir=folder,
            default_batch_size=ctx.recipe.data.batch_size,
            workers=ctx.recipe.data.workers,
        )
        name = getattr(self.params, "name", None) or ("trained" if self.kind == "train" else folder.name)
        artifact = save_torch_artifact(module, folder, name, ctx, parent=current.artifact.name)
        current.module = module
        metrics = {
            **torch_val_metrics(module, ctx),
            "best_epoch": outcome.best_epoch,
            "history": outcome.history,
            "train_seconds": round(outcome.seconds, 2),
        }
        return StageResult(
            stage=folder.name,
            kind=self.kind,
            inputs=[current.artifact.name],
            outputs=[artifact],
            metrics=metrics,
            seconds=outcome.seconds,
        )


class FinetuneStage(TrainStage):
    """``type: finetune`` in a recipe's stages: more training of whatever the previous stage produced."""

    kind = "finetune"
