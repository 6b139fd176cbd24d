"""Training (the recipe's ``train`` section) and fine-tuning (a ``finetune`` entry in ``stages``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from edgecv.artifacts import StageResult
from edgecv.stages.contract import Stage, register_stage
from edgecv.stages.params import TrainParams

if TYPE_CHECKING:
    from edgecv.stages.base import CurrentModel, RunContext


class FinetuneParams(TrainParams):
    """Train the current model further (e.g. after pruning), with the same loop as ``train``.

    Example (in a recipe)::

        stages:
          - {type: finetune, epochs: 3, lr: 0.01}
    """

    type: Literal["finetune"]
    name: str | None = None
    epochs: int = Field(1, ge=1, le=10_000)
    lr: float = Field(0.01, gt=0)


@register_stage
class TrainStage(Stage):
    """Train the current model with the shared loop; the best epoch (on the selection split) becomes the output."""

    kind = "train"
    produces = "torch"

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        from edgecv.stages.base import save_torch_artifact, torch_val_metrics
        from edgecv.train_jobs import fit

        module = current.torch_module()
        outcome = fit(ctx, module, self.params, folder)
        name = getattr(self.params, "name", None) or ("trained" if self.kind == "train" else folder.name)
        artifact = save_torch_artifact(module, folder, name, ctx, parent=current.artifact.name)
        current.module = module
        metrics = {
            **torch_val_metrics(module, ctx),
            "best_epoch": outcome.best_epoch,
            "best_epoch_chosen_on": "selection split",
            "history": outcome.history,
            "train_seconds": round(outcome.seconds, 2),
        }
        if outcome.class_weights is not None:
            metrics["class_weights"] = dict(zip(ctx.splits.labels, outcome.class_weights, strict=True))
        if outcome.distributed is not None:
            metrics["distributed"] = outcome.distributed
        return StageResult(
            stage=folder.name,
            kind=self.kind,
            inputs=[current.artifact.name],
            outputs=[artifact],
            metrics=metrics,
            seconds=outcome.seconds,
        )


@register_stage
class FinetuneStage(TrainStage):
    """``type: finetune`` in a recipe's stages: more training of whatever the previous stage produced."""

    kind = "finetune"
    Params = FinetuneParams
