"""The one training loop: from scratch, fine-tuning after compression, and distillation (via ``extra_loss``).

SGD or AdamW, linear warm-up then cosine decay (per step), label smoothing, seeded shuffling, mixed precision on a
GPU, the best checkpoint (by top-1 on the selection split, never on val) kept, and a checkpoint after every epoch
so an interrupted run resumes from the last finished epoch.

Under torch.distributed (:mod:`edgecv.distributed`) the same loop runs on every rank: DDP with a DistributedSampler
(seeded per epoch), the batch split or repeated per ``batch_size_is``, the learning rate scaled per ``lr_scaling``;
rank 0 alone evaluates the selection split, writes checkpoints and decides the best epoch, and its best weights
end on every rank (checked by digest). Checkpoints hold the global state, so a run resumes on any process count.

Example::

    outcome = train_model(model, splits, preprocessing, TrainParams(epochs=5), workdir=Path("runs/x/01-train"))
    outcome.best_score, outcome.history[-1]       # the task's primary metric on the selection split
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgecv import distributed
from edgecv.artifacts import Preprocessing, atomic_save
from edgecv.compress.sparsity import enforce_2_4
from edgecv.console import info
from edgecv.data import DataSplits
from edgecv.evaluation import evaluate_torch
from edgecv.stages.params import TrainParams

if TYPE_CHECKING:
    from edgecv.tasks.base import Task

ExtraLoss = Callable[[torch.Tensor, Any, Any], torch.Tensor]
"""(images, student outputs, targets) -> an extra loss term added to the task loss (e.g. distillation)."""


@dataclass
class TrainOutcome:
    best_score: float
    """The best epoch's primary task metric (top-1 for classification) on the selection split."""
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from_epoch: int = 0
    distributed: dict[str, Any] | None = None
    """Processes, batch sizes, learning rate and per-rank weight digests of a multi-process run; None in one."""
    class_weights: list[float] | None = None
    """The loss's per-class weights (``train.class_weights``), None when unweighted."""
    start_score: float | None = None
    """The model's selection score before training (epoch 0) when it competed (``start_competes``), else None."""


def pick_device() -> torch.device:
    """The GPU when there is one (this rank's own under torch.distributed), else the CPU."""
    if distributed.active():
        return distributed.device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or AdamW; no weight decay on biases and normalization weights."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if params.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=params.lr)
    return torch.optim.SGD(
        groups, lr=params.lr, momentum=params.momentum, nesterov=params.nesterov and params.momentum > 0
    )


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear from ~0 to 1 over the warm-up, then cosine down to 0 at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _load_checkpoint(path: Path, model: nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore the training state of ``last.pt``: tensors, dicts, lists and numbers only, read weights-only.

    Under torch.distributed rank 0 reads the file and every rank restores its state."""
    state = distributed.broadcast_object(_read_checkpoint(path) if distributed.is_main() else None)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if not distributed.active():
        torch.set_rng_state(state["rng"])
    return state


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """``last.pt`` read weights-only; a file holding anything else is a ModelError."""
    import pickle

    from edgecv.errors import ModelError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        from edgecv.safe_load import load_error_reason

        raise ModelError(
            f"training checkpoint {path} was refused ({load_error_reason(exc)}): it holds more than the training "
            "state edgecv writes and may have been tampered with; delete it or start a new run"
        ) from exc
    return state  # type: ignore[no-any-return]


def train_model(
    model: nn.Module,
    splits: DataSplits,
    pre: Preprocessing,
    params: TrainParams,
    *,
    workdir: Path,
    default_batch_size: int = 64,
    extra_loss: ExtraLoss | None = None,
    extra_modules: list[nn.Module] | None = None,
    workers: int = 0,
    task_weight: float = 1.0,
    task: Task | None = None,
) -> TrainOutcome:
    """Train ``model`` in place and leave it holding the best epoch's weights. See the module docstring.

    ``task`` (default: classification) gives the loss and the metric the best epoch is chosen by. Under
    torch.distributed every rank calls this with the same arguments; only rank 0 touches ``workdir``.
    """
    from edgecv.tasks import get_task

    task = task or get_task("classification")
    metric = task.metric
    torch.manual_seed(params.seed + 1009 * distributed.rank())  # each rank its own augmentation stream
    device = pick_device()
    model.to(device)
    trainable = nn.ModuleList([model, *(extra_modules or [])])  # e.g. distillation adapters learn too
    plan = parallel_plan(params, params.batch_size or default_batch_size)
    loader = task.loader(splits.train, pre, plan.per_process_batch, shuffle=True, augment=params.augment,
                         seed=params.seed, workers=workers)
    loader = distributed.shard(loader, params.seed) if plan.processes > 1 else loader
    selection_loader = task.loader(splits.selection, pre, 256, workers=workers)  # the best epoch is chosen here
    steps_per_epoch = min(len(loader), params.max_batches_per_epoch or len(loader))  # batches; with accumulate,
    updates = math.ceil(steps_per_epoch / params.accumulate)  # fewer optimizer steps, each over several batches
    optimizer = make_optimizer(trainable, params if plan.lr == params.lr else params.model_copy(update={"lr": plan.lr}))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(updates * params.epochs, round(updates * params.warmup_epochs))
    )
    class_weights = train_class_weights(task, splits, params)
    use_amp = device.type == "cuda" and params.amp != "off"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    forward_model = distributed.wrap(model, extra_modules or [], params.sync_batchnorm) if plan.processes > 1 else model

    last, best = workdir / "last.pt", workdir / "best.pt"
    outcome = TrainOutcome(best_score=float("nan"), best_epoch=0)
    start_epoch = 0
    if distributed.broadcast_object(distributed.is_main() and last.is_file()):
        state = _load_checkpoint(last, trainable, optimizer, scheduler)
        start_epoch, outcome.history = state["epoch"], state["history"]
        outcome.best_score, outcome.best_epoch = state.get("best_score", state.get("best_top1")), state["best_epoch"]
        outcome.start_score = state.get("start_score")
        outcome.resumed_from_epoch = start_epoch
        info(f"  resuming training after epoch {start_epoch}/{params.epochs}")
    elif params.start_competes and params.epochs > 0:
        outcome.start_score = _score_start(model, selection_loader, splits, device, task, best)
        outcome.best_score = outcome.start_score
    started = time.perf_counter()
    for epoch in range(start_epoch, params.epochs):
        # reseeding per epoch gives a resumed run the same shuffles as an uninterrupted one
        if plan.processes > 1:  # the shard order, and each rank's augmentation stream, from (seed, epoch, rank)
            loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            torch.manual_seed(params.seed + 1009 * distributed.rank() + 7919 * (epoch + 1))
        else:
            loader.generator.manual_seed(params.seed + epoch + 1)  # type: ignore[union-attr]
        trainable.train()
        if params.freeze_batchnorm:
            freeze_batchnorm_statistics(model)
        total_loss, seen, epoch_started = 0.0, 0, time.perf_counter()
        for step, (images, targets) in enumerate(loader):
            if step >= steps_per_epoch:
                break
            images, targets = images.to(device), task.targets_to(targets, device)
            group, first = _accumulation_group(step, steps_per_epoch, params.accumulate)
            update = step + 1 == first + group  # the group's last batch: gradients complete, step
            with _no_sync(forward_model, update), torch.autocast(device.type, enabled=use_amp):
                outputs = task.forward(forward_model, images, targets)
                loss = torch.zeros((), device=device)
                if task_weight:  # pure distillation (alpha 1) needs no label loss, nor a model that has one
                    loss = task_weight * task.loss(outputs, targets, label_smoothing=params.label_smoothing,
                                                   class_weights=class_weights)
                if extra_loss is not None:
                    loss = loss + extra_loss(images, outputs, targets)
            if step == first:
                optimizer.zero_grad(set_to_none=True)
            with _no_sync(forward_model, update):
                scaler.scale(loss / group if group > 1 else loss).backward()
            if not update:
                total_loss += float(loss.detach()) * len(images)
                seen += len(images)
                continue
            distributed.average_gradients(extra_modules or [])  # DDP averages the model's own
            scaler.step(optimizer)
            scaler.update()
            enforce_2_4(model)  # keeps a 2:4 pattern, if the model has one, through fine-tuning
            scheduler.step()
            total_loss += float(loss.detach()) * len(images)
            seen += len(images)
            if steps_per_epoch >= 100 and (step + 1) % (steps_per_epoch // 4) == 0 and step + 1 < steps_per_epoch:
                info(f"  epoch {epoch + 1}/{params.epochs}: batch {step + 1}/{steps_per_epoch}, "
                     f"loss {total_loss / seen:.4f}, {seen / (time.perf_counter() - epoch_started):.0f} img/s")
        row = _epoch_row(model, selection_loader, splits, device, task, (epoch, total_loss, seen, epoch_started),
                         optimizer)
        outcome.history.append(row)
        if math.isnan(outcome.best_score) or metric.drop(outcome.best_score, row["selection"]) < 0:  # a new best
            outcome.best_score, outcome.best_epoch = row["selection"], epoch + 1
            if distributed.is_main():
                atomic_save(best, lambda p: torch.save(model.state_dict(), p))
        if distributed.is_main():
            _save_last(last, trainable, optimizer, scheduler, epoch, outcome)
        info(
            f"  epoch {epoch + 1}/{params.epochs}  loss {row['loss']:.4f}  selection {metric.label} "
            f"{metric.show(row['selection'])}  "
            f"({row['seconds']:.1f}s)"
        )
    if outcome.start_score is not None and outcome.best_epoch == 0:
        info(f"  no trained epoch beat the start on the selection split ({metric.label} "
             f"{metric.show(outcome.start_score)}): the model before training is kept")
    if distributed.is_main() and best.is_file():
        model.load_state_dict(torch.load(best, map_location=device, weights_only=True))
    outcome.seconds = time.perf_counter() - started
    outcome.class_weights = None if class_weights is None else [round(float(w), 6) for w in class_weights]
    if plan.processes > 1:
        outcome.distributed = _finish_distributed(model, plan, params)
    model.to("cpu").eval()
    return outcome


def train_class_weights(task: Task, splits: DataSplits, params: TrainParams) -> torch.Tensor | None:
    """The loss's per-class weights of ``params.class_weights`` over the train split (None: unweighted)."""
    from edgecv.class_weights import resolve_class_weights

    if params.class_weights == "none":
        return None
    counts = None if isinstance(params.class_weights, list) else task.class_counts(splits.train, len(splits.labels))
    weights = resolve_class_weights(params.class_weights, counts, len(splits.labels))
    if weights is not None:
        shown = ", ".join(f"{name} {w:.3g}" for name, w in zip(splits.labels, weights.tolist(), strict=True))
        info(f"  class weights ({params.class_weights if isinstance(params.class_weights, str) else 'given'}): "
             f"{shown}")
    return weights


def freeze_batchnorm_statistics(model: nn.Module) -> int:
    """Put every BatchNorm of ``model`` in eval mode (running statistics used and kept; scale and shift still
    learn); the number of layers frozen. Call after ``model.train()``, which undoes it."""
    frozen = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            frozen += 1
    return frozen


def _selection_score(model: nn.Module, loader: Any, splits: DataSplits, device: torch.device, task: Task) -> float:
    """The task's primary metric of ``model`` on the selection split (rank 0 only)."""
    return float(task.metric.value(evaluate_torch(model, loader, splits.labels, device, task)) or 0.0)


def _score_start(model: nn.Module, selection_loader: Any, splits: DataSplits, device: torch.device, task: Task,
                 best: Path) -> float:
    """Epoch 0: the untrained model's selection score (rank 0's, broadcast), saved as the best so far."""
    score = None
    if distributed.is_main():
        score = _selection_score(model, selection_loader, splits, device, task)
        atomic_save(best, lambda p: torch.save(model.state_dict(), p))
        info(f"  epoch 0 (before training): selection {task.metric.label} {task.metric.show(score)}")
    return float(distributed.broadcast_object(score))


def _accumulation_group(step: int, steps: int, accumulate: int) -> tuple[int, int]:
    """(batches in ``step``'s accumulation group, the group's first batch); the epoch's last group may be short."""
    first = step - step % accumulate
    return min(accumulate, steps - first), first


def _no_sync(model: nn.Module, update: bool) -> Any:
    """DDP's ``no_sync()`` for a batch whose gradients only accumulate (no all-reduce yet); else nothing."""
    import contextlib

    if update or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


def _epoch_row(
    model: nn.Module, selection_loader: Any, splits: DataSplits, device: torch.device, task: Task,
    progress: tuple[int, float, int, float], optimizer: torch.optim.Optimizer,
) -> dict[str, Any]:
    """The epoch's history row; the selection score is rank 0's, the same on every rank (broadcast)."""
    epoch, total_loss, seen, epoch_started = progress
    score = _selection_score(model, selection_loader, splits, device, task) if distributed.is_main() else None
    return {
        "epoch": epoch + 1,
        "loss": total_loss / max(1, seen),
        "selection": distributed.broadcast_object(score),
        "metric": task.metric.key,
        "lr": optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - epoch_started,
    }


def _save_last(last: Path, trainable: nn.Module, optimizer: Any, scheduler: Any, epoch: int,
               outcome: TrainOutcome) -> None:
    """The resumable state after ``epoch`` (global: the same for any process count)."""
    atomic_save(
        last,
        lambda p: torch.save(
            {
                "model": trainable.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "history": outcome.history,
                "best_score": outcome.best_score,
                "best_epoch": outcome.best_epoch,
                "start_score": outcome.start_score,
            },
            p,
        ),
    )


@dataclass(frozen=True)
class ParallelPlan:
    """How a training loop's batch and learning rate spread over the processes.

    Example: ``batch_size: 64`` on 2 processes is 32 per process with ``batch_size_is: global`` (effective 64,
    lr unchanged), or 64 per process with ``per-process`` (effective 128; ``lr_scaling: linear`` doubles lr).
    """

    processes: int
    per_process_batch: int
    effective_batch: int
    lr: float


def parallel_plan(params: TrainParams, batch_size: int) -> ParallelPlan:
    """The plan for this process count; a global batch that does not split evenly is a RecipeError."""
    from edgecv.errors import RecipeError

    n = distributed.world_size()
    if params.batch_size_is == "global":
        if batch_size % n:
            raise RecipeError(
                f"batch_size {batch_size} (global, batch_size_is: global) does not split over {n} processes: "
                f"use a multiple of {n}, or batch_size_is: per-process"
            )
        per, effective = batch_size // n, batch_size
    else:
        per, effective = batch_size, batch_size * n
    effective *= params.accumulate
    lr = params.lr * effective / batch_size if params.lr_scaling == "linear" else params.lr
    return ParallelPlan(processes=n, per_process_batch=per, effective_batch=effective, lr=lr)


def _finish_distributed(model: nn.Module, plan: ParallelPlan, params: TrainParams) -> dict[str, Any]:
    """Rank 0's best weights onto every rank, checked by digest; what the report records about the run."""
    distributed.unwrap_sync_batchnorm(model)
    distributed.broadcast_module(model)
    digests = distributed.gather_objects(distributed.digest(model))
    if len(set(digests)) != 1:
        odd = [r for r, d in enumerate(digests) if d != digests[0]]
        raise RuntimeError(f"final weights differ between rank 0 and rank(s) {odd} after training")
    return {
        "processes": plan.processes,
        "backend": distributed.backend(),
        "batch_size_is": params.batch_size_is,
        "per_process_batch": plan.per_process_batch,
        "effective_batch": plan.effective_batch,
        "accumulate": params.accumulate,
        "lr_scaling": params.lr_scaling,
        "recipe_lr": params.lr,
        "lr": plan.lr,
        "sync_batchnorm": params.sync_batchnorm,
        "weights_sha256_by_rank": digests,
    }
