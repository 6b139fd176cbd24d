"""Can Torch-Pruning prune this model? A dry run on a copy, before any work, that says why not in one line.

Preflight calls :func:`pruning_problem` from the prune stage's check. It runs what the stage will run on a copy of
the model (one output tensor, Torch-Pruning's dependency trace, one small pruning step, a forward pass) and
turns a failure into a sentence: a user sees "ShuffleNetV2's channel shuffle" instead of a ZeroDivisionError
from inside Torch-Pruning after the model was trained.

Example::

    problem = pruning_problem(model, torch.zeros(1, 3, 32, 32), ignored=[], round_to=16)
    problem   # None, or "its channels pass through a channel shuffle (view-transpose-view) ..."
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from edgecv.tasks.base import Task

DRY_RATIO = 0.2  # one step removing this fraction of every prunable layer: enough to reach every group

KNOWN_FAILURES = {
    "update_reshape_index_mapping": (
        "its channels pass through a reshape Torch-Pruning 1.6 cannot trace (a channel shuffle, view-transpose-view, "
        "as in torchvision's ShuffleNetV2: its index mapping divides by zero while building the graph, before "
        "edgecv can keep those layers whole); remove the prune stage (distill, quantize and export work on this model)"
    ),
}
"""Function (innermost Torch-Pruning frame of the traceback) -> the reason in words."""

NOTHING_LEFT = (
    "every channel group passes a channel shuffle ({count} layers kept whole: Torch-Pruning cannot map a reshape "
    "that splits the channel axis) or a layer kept whole (the head, ignored_layers); remove the prune stage or "
    "shorten ignored_layers"
)


def output_count(model: nn.Module, example: torch.Tensor) -> int:
    """How many tensors ``model`` returns for ``example`` (1 for a plain tensor)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        output = model(example)
    model.train(was_training)
    if isinstance(output, torch.Tensor):
        return 1
    if isinstance(output, dict):
        return len(output)
    return len(output) if isinstance(output, tuple | list) else 0


def _named_outputs(model: nn.Module, example: torch.Tensor) -> bool:
    """Whether ``model`` returns its outputs by name (a dict), which the task evaluates (a detector's boxes)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        named = isinstance(model(example), dict)
    model.train(was_training)
    return named


def _reason(exc: BaseException) -> str:
    """The known cause of a Torch-Pruning failure, else its type, message and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.name in KNOWN_FAILURES:
            return KNOWN_FAILURES[frame.name]
    where = next((f for f in reversed(frames) if "torch_pruning" in f.filename), frames[-1] if frames else None)
    first_line = (str(exc).splitlines() or [""])[0][:160]
    place = f" in {where.name}" if where is not None else ""
    return (f"Torch-Pruning fails{place} ({type(exc).__name__}: {first_line}); list the layers around it in "
            "ignored_layers or remove the prune stage")


@dataclass
class DryRun:
    """The outcome of a dry run: the problem (None: prunable), and the pruned copy with its MACs fraction."""

    problem: str | None
    pruned: nn.Module | None = None
    macs_fraction: float | None = None


def dry_run(model: nn.Module, example: torch.Tensor, *, ignored: list[str], round_to: int,
            task: Task | None = None) -> DryRun:
    """One pruning step of ``DRY_RATIO`` on a deep copy of ``model``, then a forward pass; the ``task``'s
    protected modules (its heads) kept whole, as the stage keeps them."""
    from edgecv.compress.pruning import ChannelPruner, named_modules

    count = output_count(model, example)
    if count != 1 and not _named_outputs(model, example):  # outputs by name are the task's (a detector's)
        return DryRun(f"the model returns {count} outputs; pruning (importance, BatchNorm re-estimation, val "
                      "metrics) takes one output tensor: return only the logits from forward, or remove the prune "
                      "stage")
    trial = copy.deepcopy(model).cpu().eval()
    try:
        pruner = ChannelPruner(trial, example, round_to=round_to, ratio=DRY_RATIO,
                               ignored=named_modules(trial, ignored, "ignored_layers"),
                               heads=task.protected_modules(trial) if task is not None else None)
        if pruner.channel_split_layers and not pruner.prunable_groups():
            return DryRun(NOTHING_LEFT.format(count=len(pruner.channel_split_layers)))
        pruner.prune_ratio()
        with torch.no_grad():
            trial(example)
    except Exception as exc:  # Torch-Pruning raises any type from deep inside its tracer
        return DryRun(_reason(exc))
    return DryRun(None, trial, pruner.macs_fraction())


def pruning_problem(model: nn.Module, example: torch.Tensor, *, ignored: list[str], round_to: int,
                    task: Task | None = None) -> str | None:
    """Why the prune stage cannot prune ``model`` and what to do, in words, or None (dry run on a deep copy)."""
    return dry_run(model, example, ignored=ignored, round_to=round_to, task=task).problem


def example_input(recipe: object) -> torch.Tensor:
    """A zero batch of one image at the recipe's input (channels from its mean, size as preflight resolves it)."""
    from edgecv.preflight import preprocessing_for

    pre = preprocessing_for(recipe, [])  # type: ignore[arg-type]
    return torch.zeros(1, len(pre.mean), *pre.size)
