"""The first few images of a validation pass with a model's outputs and their targets, kept for the report's
pictures (the val loader's order is fixed, so every artifact sees the same images).

Example::

    samples = Samples(4)
    evaluate_runner(runner, loader, labels, task, samples=samples)
    samples.images[0], samples.outputs[0]["boxes"], samples.targets[0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Samples:
    """Up to ``count`` images (model inputs, (3, H, W)), each one's outputs by name (no batch axis) and target."""

    count: int
    images: list[np.ndarray] = field(default_factory=list)
    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)

    def add(self, images: np.ndarray, outputs: dict[str, np.ndarray], targets: Any) -> None:
        """Keep the batch's first images until ``count`` are kept."""
        for index in range(min(len(images), self.count - len(self.images))):
            self.images.append(np.asarray(images[index]))
            self.outputs.append({name: np.asarray(value)[index] for name, value in outputs.items()})
            self.targets.append(targets[index])
