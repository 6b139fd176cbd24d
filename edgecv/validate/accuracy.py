"""Accuracy of any runner (an exported ONNX model, a torch module) on the validation set."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from edgecv.runtime.base import Runner
from edgecv.tasks.classification import ClassificationMetrics


def runner_logits(runner: Runner, loader: DataLoader[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels for every batch of ``loader`` through ``runner``."""
    outputs, targets = [], []
    for images, labels in loader:
        outputs.append(runner.infer(images.numpy()))
        targets.append(np.asarray(labels))
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate_runner(runner: Runner, loader: DataLoader[Any], labels: list[str]) -> ClassificationMetrics:
    """Classification metrics of ``runner`` on ``loader``."""
    logits, targets = runner_logits(runner, loader)
    return ClassificationMetrics.from_logits(logits, targets, labels)
