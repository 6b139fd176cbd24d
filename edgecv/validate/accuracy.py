"""The task metric of any runner (an exported ONNX model, a torch module) on a loader's images.

Every figure is the task's (``edgecv.tasks``): the runner's outputs go, by name, into the task's evaluator.

Example::

    metrics = evaluate_runner(OrtRunner("model.onnx"), loader, labels, get_task("classification"))
    metrics["top1"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import DataLoader

from edgecv.runtime.base import Runner

if TYPE_CHECKING:
    from edgecv.tasks.base import Task
    from edgecv.validate.samples import Samples


def runner_logits(runner: Runner, loader: DataLoader[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The first output and the labels for every batch of ``loader`` through ``runner``, concatenated."""
    outputs, targets = [], []
    for images, labels in loader:
        outputs.append(runner.infer(images.numpy()))
        targets.append(np.asarray(labels))
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate_runner(
    runner: Runner, loader: DataLoader[Any], labels: list[str], task: Task | None = None, *,
    samples: Samples | None = None,
) -> dict[str, Any]:
    """The task's metrics of ``runner`` on ``loader`` (classification when no task is given); ``samples`` keeps
    the first images with their outputs on the way."""
    from edgecv.tasks import get_task

    evaluator = (task or get_task("classification")).evaluator(labels)
    for images, targets in loader:
        outputs = runner.infer_all(images.numpy())
        evaluator.update(outputs, targets)
        if samples is not None:
            samples.add(images.numpy(), outputs, targets)
    return evaluator.compute()
