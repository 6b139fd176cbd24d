"""Training as a job every rank runs: how train, finetune, distill, pruning's fine-tune and QAT call the loop.

In a single process :func:`fit` just calls :func:`edgecv.training.train_model`. Under torch.distributed only
rank 0 runs the pipeline (it alone loads, prunes, calibrates, exports, validates and writes); the other ranks
wait in :func:`serve` and, at each :func:`fit` on rank 0, receive the job (the model, or how to rebuild it, and
the loop's settings) and train it together with rank 0 under DDP. A pruned model travels whole, so every rank
trains the same architecture; an NNCF fake-quantized model (not picklable) is rebuilt from its float model on one
batch and then given rank 0's quantizer state, so calibration happens once, on rank 0.

Example::

    outcome = fit(ctx, student, params, folder, teacher=teacher, distill=settings)   # rank 0, in a stage
    serve(recipe)                                                                   # ranks 1..N-1
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

from edgecv import distributed
from edgecv.artifacts import Preprocessing
from edgecv.errors import DataError
from edgecv.stages.params import DistillSettings, TrainParams
from edgecv.training import TrainOutcome, pick_device, train_model

if TYPE_CHECKING:
    from edgecv.data import DataSplits
    from edgecv.recipe import Recipe
    from edgecv.stages.base import RunContext


class Rebuild(Protocol):
    """How a worker rank builds a model that cannot be pickled, given rank 0's state dict."""

    def build(self, state: dict[str, Any]) -> nn.Module: ...


@dataclass
class DistillJob:
    """The frozen teacher and the distillation settings a job trains with."""

    teacher: nn.Module
    temperature: float
    alpha: float
    features: list[tuple[str, str, float]]


@dataclass
class TrainJob:
    """Everything a rank needs, besides the model and the data, to run one training loop."""

    params: TrainParams
    pre: Preprocessing
    task: str
    default_batch_size: int
    workers: int
    example_shape: tuple[int, ...]
    workdir: Path
    data: str
    task_weight: float = 1.0
    distill: DistillJob | None = None


def data_summary(splits: DataSplits) -> str:
    """What every rank must agree on about the data: split sizes and a hash of the label names."""
    labels = hashlib.sha256("\n".join(splits.labels).encode()).hexdigest()[:8]
    return f"{len(splits.train)} train / {len(splits.selection)} selection images, labels {labels}"


def fit(
    ctx: RunContext, module: nn.Module, params: TrainParams, workdir: Path, *, teacher: nn.Module | None = None,
    distill: DistillSettings | None = None, rebuild: Rebuild | None = None,
) -> TrainOutcome:
    """Train ``module`` in place (with distillation from ``teacher`` when ``distill`` is given) on every rank.

    ``rebuild`` says how the other ranks build ``module`` when it cannot be pickled (NNCF's QAT model).
    """
    job = TrainJob(
        params=params, pre=ctx.preprocessing, task=ctx.recipe.task, default_batch_size=ctx.recipe.data.batch_size,
        workers=ctx.recipe.data.workers, example_shape=tuple(ctx.input_spec.shape), workdir=workdir,
        data=data_summary(ctx.splits),
    )
    if distill is not None and teacher is not None:
        job.task_weight = 1 - distill.alpha
        job.distill = DistillJob(teacher, distill.temperature, distill.alpha,
                                 [(f.student, f.teacher, f.weight) for f in distill.features])
    if distributed.active():
        payload = ("rebuild", rebuild, module.state_dict()) if rebuild is not None else ("module", module)
        distributed.broadcast_object(("train", job, payload))
    return run_job(job, module, ctx.splits)


def run_job(job: TrainJob, module: nn.Module, splits: DataSplits) -> TrainOutcome:
    """One rank's part of a job: the training loop, with a Distiller when the job distils."""
    import torch

    from edgecv.compress.distillation import Distiller
    from edgecv.tasks import get_task

    task = get_task(job.task)
    distiller = None
    if job.distill is not None:
        d = job.distill
        distiller = Distiller(module, d.teacher, temperature=d.temperature, alpha=d.alpha, features=d.features,
                              logit_loss=task.distill_loss, example=torch.zeros(1, *job.example_shape))
        distiller.to(pick_device())
    try:
        return train_model(
            module, splits, job.pre, job.params, workdir=job.workdir, default_batch_size=job.default_batch_size,
            extra_loss=None if distiller is None else lambda images, outputs, targets: distiller.loss(images, outputs),
            extra_modules=None if distiller is None else [distiller.adapters], workers=job.workers,
            task_weight=job.task_weight, task=task,
        )
    finally:
        if distiller is not None:
            distiller.close()


def serve(recipe: Recipe) -> int:
    """Ranks 1..N-1: load the recipe's data, then train each job rank 0 sends until it says done; the job count."""
    from edgecv.tasks import get_task

    splits = get_task(recipe.task).load_datasets(recipe.data)
    jobs = 0
    while True:
        message = distributed.broadcast_object(None)
        if message[0] == "done":
            return jobs
        _, job, payload = message
        if job.data != data_summary(splits):
            raise DataError(f"this rank loaded {data_summary(splits)} but rank 0 has {job.data}: every process "
                            "must see the same data at the same path (data section of the recipe)")
        module = payload[1] if payload[0] == "module" else payload[1].build(payload[2])
        run_job(job, module, splits)
        jobs += 1


def release_workers() -> None:
    """Rank 0, after the pipeline finished: tell the waiting ranks there is no more training."""
    if distributed.active() and distributed.is_main():
        distributed.broadcast_object(("done",))
