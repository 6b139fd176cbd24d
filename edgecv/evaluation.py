"""The task metric of a torch model on a loader (through the same evaluator as every exported artifact).

Example::

    evaluate_torch(model, loader, labels, task=get_task("classification"))["top1"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from edgecv.runtime.torch_runner import TorchRunner
from edgecv.validate.accuracy import evaluate_runner

if TYPE_CHECKING:
    from edgecv.tasks.base import Task


def evaluate_torch(
    model: nn.Module,
    loader: DataLoader[Any],
    labels: list[str],
    device: torch.device | str = "cpu",
    task: Task | None = None,
) -> dict[str, Any]:
    """The task's metrics of a torch model on a loader; the model is put in eval mode."""
    return evaluate_runner(TorchRunner(model, device=str(device)), loader, labels, task)
