"""The one training loop: from scratch, fine-tuning after compression, and distillation (via ``extra_loss``).

SGD or AdamW, linear warm-up then cosine decay (per step), label smoothing, seeded shuffling, mixed precision on a
GPU, the best checkpoint (by top-1 on the selection split, never on val) kept, and a checkpoint after every epoch
so an interrupted run resumes from the last finished epoch.

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


def pick_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
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
    """Restore the training state of ``last.pt``: tensors, dicts, lists and numbers only, read weights-only."""
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
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return state


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

    ``task`` (default: classification) gives the loss and the metric the best epoch is chosen by.
    """
    from edgecv.tasks import get_task

    task = task or get_task("classification")
    metric = task.metric
    torch.manual_seed(params.seed)
    device = pick_device()
    model.to(device)
    trainable = nn.ModuleList([model, *(extra_modules or [])])  # e.g. distillation adapters learn too
    batch_size = params.batch_size or default_batch_size
    loader = task.loader(splits.train, pre, batch_size, shuffle=True, augment=params.augment, seed=params.seed,
                         workers=workers)
    selection_loader = task.loader(splits.selection, pre, 256, workers=workers)  # the best epoch is chosen here
    steps_per_epoch = min(len(loader), params.max_batches_per_epoch or len(loader))
    optimizer = make_optimizer(trainable, params)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps_per_epoch * params.epochs, round(steps_per_epoch * params.warmup_epochs))
    )
    use_amp = device.type == "cuda" and params.amp != "off"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    last, best = workdir / "last.pt", workdir / "best.pt"
    outcome = TrainOutcome(best_score=float("nan"), best_epoch=0)
    start_epoch = 0
    if last.is_file():
        state = _load_checkpoint(last, trainable, optimizer, scheduler)
        start_epoch, outcome.history = state["epoch"], state["history"]
        outcome.best_score, outcome.best_epoch = state.get("best_score", state.get("best_top1")), state["best_epoch"]
        outcome.resumed_from_epoch = start_epoch
        info(f"  resuming training after epoch {start_epoch}/{params.epochs}")
    started = time.perf_counter()
    for epoch in range(start_epoch, params.epochs):
        # reseeding per epoch gives a resumed run the same shuffles as an uninterrupted one
        loader.generator.manual_seed(params.seed + epoch + 1)  # type: ignore[union-attr]
        trainable.train()
        total_loss, seen, epoch_started = 0.0, 0, time.perf_counter()
        for step, (images, targets) in enumerate(loader):
            if step >= steps_per_epoch:
                break
            images, targets = images.to(device), task.targets_to(targets, device)
            with torch.autocast(device.type, enabled=use_amp):
                outputs = task.forward(model, images, targets)
                loss = torch.zeros((), device=device)
                if task_weight:  # pure distillation (alpha 1) needs no label loss, nor a model that has one
                    loss = task_weight * task.loss(outputs, targets, label_smoothing=params.label_smoothing)
                if extra_loss is not None:
                    loss = loss + extra_loss(images, outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            enforce_2_4(model)  # keeps a 2:4 pattern, if the model has one, through fine-tuning
            scheduler.step()
            total_loss += float(loss.detach()) * len(images)
            seen += len(images)
            if steps_per_epoch >= 100 and (step + 1) % (steps_per_epoch // 4) == 0 and step + 1 < steps_per_epoch:
                info(f"  epoch {epoch + 1}/{params.epochs}: batch {step + 1}/{steps_per_epoch}, "
                     f"loss {total_loss / seen:.4f}, {seen / (time.perf_counter() - epoch_started):.0f} img/s")
        score = float(metric.value(evaluate_torch(model, selection_loader, splits.labels, device, task)) or 0.0)
        row = {
            "epoch": epoch + 1,
            "loss": total_loss / max(1, seen),
            "selection": score,
            "metric": metric.key,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_started,
        }
        outcome.history.append(row)
        if outcome.best_epoch == 0 or metric.drop(outcome.best_score, score) < 0:  # better than the best so far
            outcome.best_score, outcome.best_epoch = score, epoch + 1
            atomic_save(best, lambda p: torch.save(model.state_dict(), p))
        atomic_save(
            last,
            lambda p, e=epoch: torch.save(
                {
                    "model": trainable.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(),
                    "epoch": e + 1,
                    "history": outcome.history,
                    "best_score": outcome.best_score,
                    "best_epoch": outcome.best_epoch,
                },
                p,
            ),
        )
        info(
            f"  epoch {epoch + 1}/{params.epochs}  loss {row['loss']:.4f}  selection {metric.label} "
            f"{metric.show(score)}  "
            f"({row['seconds']:.1f}s)"
        )
    if best.is_file():
        model.load_state_dict(torch.load(best, map_location=device, weights_only=True))
    outcome.seconds = time.perf_counter() - started
    model.to("cpu").eval()
    return outcome
