"""Run a torch model over a loader and collect logits; the accuracy of a torch artifact."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from edgecv.tasks.classification import ClassificationMetrics


@torch.no_grad()
def torch_logits(
    model: nn.Module, loader: DataLoader[Any], device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every batch, in loader order; the model is put in eval mode."""
    model.eval()
    outputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for images, labels in loader:
        outputs.append(model(images.to(device)).float().cpu().numpy())
        targets.append(np.asarray(labels))
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate_torch(
    model: nn.Module, loader: DataLoader[Any], labels: list[str], device: torch.device | str = "cpu"
) -> ClassificationMetrics:
    """Classification metrics of a torch model on a loader."""
    logits, targets = torch_logits(model, loader, device)
    return ClassificationMetrics.from_logits(logits, targets, labels)
