"""``type: prune``: structured channel pruning (Torch-Pruning), optional fine-tuning rounds, optional 2:4 sparsity."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from edgecv.artifacts import StageResult
from edgecv.console import info
from edgecv.errors import RecipeError
from edgecv.stages.contract import Stage, StageCheck, register_stage, stage_key
from edgecv.stages.params import StrictModel, TrainParams

if TYPE_CHECKING:
    from torch import nn

    from edgecv.stages.base import CurrentModel, RunContext


class PruneParams(StrictModel):
    """Structured channel pruning with Torch-Pruning: the result is a physically smaller dense model."""

    type: Literal["prune"]
    name: str | None = None
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = "l2"
    ratio: float | None = Field(None, gt=0, lt=1, description="Fraction of channels removed (per layer or global)")
    target_macs: float | None = Field(None, gt=0, lt=1, description="Keep this fraction of the MACs (iterative)")
    target_params: float | None = Field(None, gt=0, lt=1, description="Keep this fraction of the parameters")
    global_pruning: bool = False
    round_to: int | None = Field(None, ge=1, description="Channel multiple; default: the target devices' alignment")
    ignored_layers: list[str] = Field([], description="Module names left whole (the classifier head always is)")
    steps: int = Field(1, ge=1, description="Prune in this many steps, fine-tuning between them")
    finetune: TrainParams | None = Field(None, description="Fine-tuning between steps (and after the last)")
    max_layer_ratio: float = Field(0.9, gt=0, lt=1, description="No layer loses more than this fraction")
    recalibrate_bn: int = Field(20, ge=0, description="Train batches to re-estimate BatchNorm statistics after pruning")
    remove_blocks: int = Field(
        0, ge=0, description="First remove this many residual blocks (identity shortcut), least harmful first; "
        "targets still count from the unpruned model"
    )
    sparsity_2_4: bool = Field(False, description="Also apply 2:4 semi-structured sparsity (Ampere-class GPUs)")

    @model_validator(mode="after")
    def _one_target(self) -> PruneParams:
        if self.ratio is None and self.target_macs is None and self.target_params is None:
            raise ValueError("give one target: ratio, target_macs or target_params")
        if self.ratio is not None and (self.target_macs is not None or self.target_params is not None):
            raise ValueError("ratio and target_macs/target_params exclude each other; keep one")
        return self


def calibration_loader(ctx: RunContext, batch_size: int) -> Any:
    """Batches of the recipe's calibration subset of train (class-balanced, seeded)."""
    return ctx.loader(ctx.subset(ctx.splits.train, ctx.recipe.data.calibration_size), batch_size)


def remove_residual_blocks(model: nn.Module, ctx: RunContext, p: PruneParams, key: str) -> list[dict[str, Any]]:
    """Depth pruning before channel pruning (edgecv.compress.depth); one line per removed block."""
    import torch

    from edgecv.compress.depth import remove_blocks

    try:
        images = torch.cat([batch for batch, _ in calibration_loader(ctx, 256)])
        removed = remove_blocks(model, p.remove_blocks, images, keep=p.ignored_layers, divergence=ctx.task.divergence)
    except ValueError as error:
        raise RecipeError(f"key '{key}.remove_blocks': {error}; lower it") from None
    for row in removed:
        info(f"  removed block {row['block']}: KL divergence from the unpruned predictions {row['kl_divergence']:.4f}")
    return removed


def taylor_gradients(ctx: RunContext, batches: int = 4) -> Callable[[nn.Module], None]:
    """Fill .grad with the loss gradient on a few calibration batches (Taylor importance reads them)."""
    from torch import nn

    loader = calibration_loader(ctx, 64)

    def compute(model: nn.Module) -> None:
        model.zero_grad()
        model.eval()
        for index, (images, labels) in enumerate(loader):
            if index >= batches:
                break
            nn.functional.cross_entropy(model(images), labels).backward()

    return compute


@register_stage
class PruneStage(Stage):
    """Removes channels until the target holds; see edgecv.compress.pruning for how."""

    kind = "prune"
    Params = PruneParams
    produces = "torch"
    params: PruneParams

    @classmethod
    def check(cls, params: PruneParams, check: StageCheck) -> None:
        """2:4 sparsity needs a device that runs it; ignored layers and removable blocks must exist in the model."""
        if params.sparsity_2_4 and not any(d.sparsity_2_4 for d in check.devices):
            raise RecipeError(
                f"key '{check.key}.sparsity_2_4': none of validate.devices accelerates 2:4 sparsity "
                "(it needs an Ampere-class GPU such as Jetson Orin); remove it or target such a device"
            )
        if check.model is None:
            return
        from edgecv.compress.depth import removable_blocks
        from edgecv.compress.pruning import named_modules

        named_modules(check.model, params.ignored_layers, f"{check.key}.ignored_layers")
        blocks = removable_blocks(check.model, params.ignored_layers)
        if params.remove_blocks > len(blocks):
            raise RecipeError(
                f"key '{check.key}.remove_blocks': the model has {len(blocks)} removable residual blocks "
                f"(identity shortcut, not in ignored_layers), not {params.remove_blocks}; lower it"
            )
        from edgecv.compress.prunability import example_input, pruning_problem

        round_to = params.round_to or max((d.channel_alignment for d in check.devices), default=8)
        from edgecv.tasks import get_task

        problem = pruning_problem(check.model, example_input(check.recipe), ignored=params.ignored_layers,
                                  round_to=round_to, task=get_task(check.recipe.task))
        if problem is not None:
            raise RecipeError(f"key '{check.key}': {check.recipe.model.label} cannot be channel-pruned: {problem}")

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        import copy

        import torch

        from edgecv.compress.pruning import ChannelPruner, named_modules, recalibrate_batchnorm
        from edgecv.compress.sparsity import apply_2_4, sparsity_2_4_report
        from edgecv.model_stats import count_macs, count_params
        from edgecv.models.pruning import finalize_pruned
        from edgecv.stages.base import save_torch_artifact, torch_val_metrics
        from edgecv.train_jobs import fit

        started = time.perf_counter()
        p = self.params
        key = stage_key(ctx.recipe, p)
        metric = ctx.task.metric
        model = copy.deepcopy(current.torch_module()).cpu().eval()
        round_to = p.round_to or max(d.channel_alignment for d in ctx.devices)
        baseline = (count_macs(model, ctx.input_spec.shape), count_params(model))
        removed = remove_residual_blocks(model, ctx, p, key) if p.remove_blocks else []
        pruner = ChannelPruner(
            model, torch.zeros(1, *ctx.input_spec.shape), importance=p.importance, round_to=round_to,
            global_pruning=p.global_pruning, max_layer_ratio=p.max_layer_ratio,
            ignored=named_modules(model, p.ignored_layers, f"{key}.ignored_layers"), ratio=p.ratio,
            gradient_fn=taylor_gradients(ctx) if p.importance == "taylor" else None, steps=p.steps,
            baseline=baseline, heads=ctx.task.protected_modules(model),
        )
        if pruner.channel_split_layers:
            info(f"  {len(pruner.channel_split_layers)} layers kept whole: their channels pass a channel shuffle "
                 "(a reshape splitting the channel axis, which Torch-Pruning cannot map)")
        rounds: list[dict[str, float]] = []
        reached = True
        for step in range(1, p.steps + 1):
            if p.ratio is not None:
                pruner.prune_ratio()
            else:
                share = step / p.steps
                reached = pruner.prune_until(
                    macs_fraction=None if p.target_macs is None else 1 - (1 - p.target_macs) * share,
                    params_fraction=None if p.target_params is None else 1 - (1 - p.target_params) * share,
                )
            row = {"step": step, "macs_fraction": pruner.macs_fraction(), "params_fraction": pruner.params_fraction(),
                   "metric": metric.key, "pruned": metric.value(torch_val_metrics(model, ctx))}
            if p.recalibrate_bn:
                train_loader = ctx.loader(ctx.splits.train, ctx.recipe.data.batch_size, shuffle=True,
                                          seed=ctx.recipe.data.seed + step)
                recalibrate_batchnorm(model, train_loader, p.recalibrate_bn)
                row["bn_recalibrated"] = metric.value(torch_val_metrics(model, ctx))
            info(f"  step {step}/{p.steps}: MACs {row['macs_fraction']:.1%}, params {row['params_fraction']:.1%}, "
                 f"{metric.label} {metric.show(row['pruned'])} pruned"
                 + (f", {metric.show(row['bn_recalibrated'])} with BatchNorm re-estimated" if p.recalibrate_bn else ""))
            if p.finetune is not None and p.finetune.epochs > 0:
                outcome = fit(ctx, model, p.finetune, folder / f"finetune-{step}")
                row["finetuned"] = outcome.best_score
                if outcome.distributed is not None:
                    row["distributed"] = outcome.distributed
            rounds.append(row)
        warnings = [] if reached else [f"stopped at max_layer_ratio {p.max_layer_ratio} before reaching the target"]
        selection_convs = finalize_pruned(model)  # after the last step: Torch-Pruning's graph refers to the shortcuts
        metrics: dict[str, Any] = {"round_to": round_to, "importance": p.importance, "rounds": rounds,
                                   "macs_fraction": pruner.macs_fraction(), "params_fraction": pruner.params_fraction(),
                                   "removed_blocks": removed, "selection_convs": selection_convs,
                                   "channel_split_layers": len(pruner.channel_split_layers)}
        if p.sparsity_2_4:
            heads = {name for name, m in model.named_modules() if m in ctx.task.protected_modules(model)}
            metrics["sparsity_2_4_fraction"] = apply_2_4(model, skip=heads)
            metrics["sparsity_2_4"] = sparsity_2_4_report(model)
        artifact = save_torch_artifact(model, folder, p.name or "pruned", ctx, parent=current.artifact.name,
                                       arch=current.artifact.arch)
        current.module = model
        metrics.update(torch_val_metrics(model, ctx))
        return StageResult(stage=folder.name, kind=self.kind, inputs=[current.artifact.name], outputs=[artifact],
                           metrics=metrics, seconds=time.perf_counter() - started, warnings=warnings)
