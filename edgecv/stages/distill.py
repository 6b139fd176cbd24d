"""``type: distill``: fine-tune the current model with knowledge distillation from a teacher.

The teacher defaults to the run's model before compression (what was loaded or trained); ``teacher.source:
model`` takes any zoo model or factory with an optional checkpoint instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from edgecv.artifacts import StageResult
from edgecv.errors import EdgecvError, RecipeError
from edgecv.stages.contract import REFERENCE_KINDS, Stage, StageCheck, register_stage, stage_key
from edgecv.stages.params import DistillSettings, TrainParams

if TYPE_CHECKING:
    from torch import nn

    from edgecv.compress.distillation import Distiller
    from edgecv.stages.base import CurrentModel, RunContext


class DistillParams(TrainParams, DistillSettings):
    """Fine-tune the current (e.g. pruned) model with knowledge distillation from a teacher."""

    type: Literal["distill"]
    name: str | None = None
    epochs: int = Field(5, ge=1, le=10_000)
    lr: float = Field(0.01, gt=0)


def load_teacher(ctx: RunContext, settings: DistillSettings, key: str) -> nn.Module:
    """The teacher network: the reference model of the run, or the one the settings name."""
    import copy

    from edgecv.stages.base import CurrentModel

    if settings.teacher.source == "original":
        reference = [a for r in ctx.results if r.kind in REFERENCE_KINDS for a in r.outputs][-1]
        return copy.deepcopy(CurrentModel(artifact=reference).torch_module())
    return build_teacher(ctx.recipe, settings, ctx.splits.num_classes, key)


def build_teacher(recipe: Any, settings: DistillSettings, num_classes: int, key: str) -> nn.Module:
    """The teacher that ``teacher.source: model`` names, with its checkpoint loaded."""
    from edgecv.models import build_model

    spec = settings.teacher
    if spec.arch is None:
        raise RecipeError(f"key '{key}.teacher.arch': give the teacher's architecture when teacher.source is 'model'")
    checkpoint = spec.checkpoint
    if checkpoint is not None and not checkpoint.is_absolute() and recipe.source is not None:
        checkpoint = recipe.source.parent / checkpoint
    try:
        return build_model(
            spec.arch, num_classes, checkpoint=checkpoint, trust_checkpoint=recipe.model.trust_checkpoint,
            search_paths=recipe.code_paths(),
        )
    except EdgecvError as exc:
        raise type(exc)(f"key '{key}.teacher': {exc}") from exc


def check_distill_settings(recipe: Any, settings: DistillSettings, check: StageCheck) -> None:
    """Before any work: a named teacher builds (checkpoint included) and the feature layers exist."""
    if check.model is None:
        return
    from edgecv.tasks import get_task

    teacher = check.model
    if settings.teacher.source == "model":  # the task's classes (a segmenter's label maps name background too)
        num_classes = len(get_task(recipe.task).load_datasets(recipe.data).labels)
        teacher = build_teacher(recipe, settings, num_classes, check.key)
    student_names, teacher_names = dict(check.model.named_modules()), dict(teacher.named_modules())
    for index, pair in enumerate(settings.features):
        if pair.student not in student_names:
            raise RecipeError(f"key '{check.key}.features[{index}].student': no module '{pair.student}' in the student")
        if pair.teacher not in teacher_names:
            raise RecipeError(f"key '{check.key}.features[{index}].teacher': no module '{pair.teacher}' in the teacher")


def make_distiller(ctx: RunContext, student: nn.Module, settings: DistillSettings, key: str) -> Distiller:
    """A Distiller for ``student``; unknown feature layer names are recipe errors."""
    import torch

    from edgecv.compress.distillation import Distiller

    teacher = checked_teacher(ctx, student, settings, key)
    return Distiller(student, teacher, temperature=settings.temperature, alpha=settings.alpha,
                     logit_loss=ctx.task.distill_loss,
                     features=[(f.student, f.teacher, f.weight) for f in settings.features],
                     example=torch.zeros(1, *ctx.input_spec.shape))


def checked_teacher(ctx: RunContext, student: nn.Module, settings: DistillSettings, key: str) -> nn.Module:
    """The teacher for ``student``, its feature layer names checked (an unknown one is a recipe error)."""
    teacher = load_teacher(ctx, settings, key)
    student_names, teacher_names = dict(student.named_modules()), dict(teacher.named_modules())
    for index, pair in enumerate(settings.features):
        if pair.student not in student_names:
            raise RecipeError(f"key '{key}.features[{index}].student': no module '{pair.student}' in the student")
        if pair.teacher not in teacher_names:
            raise RecipeError(f"key '{key}.features[{index}].teacher': no module '{pair.teacher}' in the teacher")
    return teacher


TEACHER_MARGIN = 0.5
"""Top-1 points the student may end above its teacher before the stage warns."""


@register_stage
class DistillStage(Stage):
    """Train the current model with the task loss weighted (1 - alpha) plus the distillation terms."""

    kind = "distill"
    Params = DistillParams
    produces = "torch"
    params: DistillParams

    @classmethod
    def check(cls, params: DistillParams, check: StageCheck) -> None:
        check_distill_settings(check.recipe, params, check)

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        import copy

        from edgecv.stages.base import save_torch_artifact, torch_val_metrics
        from edgecv.train_jobs import fit

        started = time.perf_counter()
        p = self.params
        student = copy.deepcopy(current.torch_module())
        teacher = checked_teacher(ctx, student, p, stage_key(ctx.recipe, p))
        outcome = fit(ctx, student, p, folder, teacher=teacher, distill=p)
        artifact = save_torch_artifact(student, folder, p.name or "distilled", ctx, parent=current.artifact.name,
                                       arch=current.artifact.arch)
        current.module = student
        metrics = {**torch_val_metrics(student, ctx), "best_epoch": outcome.best_epoch, "history": outcome.history,
                   "temperature": p.temperature, "alpha": p.alpha, "feature_pairs": len(p.features),
                   "metric": ctx.task.metric.key,
                   "teacher": ctx.task.metric.value(torch_val_metrics(teacher.cpu(), ctx))}
        if outcome.distributed is not None:
            metrics["distributed"] = outcome.distributed
        return StageResult(stage=folder.name, kind=self.kind, inputs=[current.artifact.name], outputs=[artifact],
                           metrics=metrics, seconds=time.perf_counter() - started,
                           warnings=teacher_warnings(metrics, ctx.recipe.task))


def teacher_warnings(metrics: dict[str, Any], task: str = "classification") -> list[str]:
    """A warning when the student ends clearly above its teacher: the teacher was likely not fit for this data.

    Measured: the shared ResNet56 checkpoint (trained on CIFAR-10's original pixels, 83.0% on the JPEG val set)
    as teacher held a pruned student to 83.9% where the labels alone reached 86.4% (bench/results/kd_vs_no_kd.md).
    """
    from edgecv.tasks import get_task

    metric = get_task(task).metric
    student, teacher = metric.value(metrics), metrics.get("teacher")
    if student is None or teacher is None or metrics.get("alpha", 0) == 0:
        return []
    if metric.drop(teacher, student) > -TEACHER_MARGIN:  # the student is not clearly better than its teacher
        return []
    return [f"the student ({metric.show(student)}) beat its teacher ({metric.show(teacher)}): the teacher may not fit "
            "this data; fine-tune it first (train.epochs) or lower alpha"]
