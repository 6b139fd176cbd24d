"""Classification metrics from logits: top-1/top-5, per-class precision/recall/F1, the confusion matrix.

Example::

    m = ClassificationMetrics.from_logits(logits, labels, ["cat", "dog"])
    m.top1, m.per_class["cat"]["recall"], m.confusion[0][1]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel


class ClassificationMetrics(BaseModel):
    """Accuracy figures in percent (0-100); ``confusion[true][predicted]`` counts images."""

    samples: int
    top1: float
    top5: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]

    @classmethod
    def from_logits(cls, logits: np.ndarray, labels: np.ndarray, names: list[str]) -> ClassificationMetrics:
        """Compute every metric from ``(N, C)`` logits and ``(N,)`` integer labels."""
        labels = np.asarray(labels, dtype=np.int64)
        n_classes = max(logits.shape[1], len(names))
        predicted = logits.argmax(axis=1)
        top1 = float((predicted == labels).mean() * 100) if len(labels) else 0.0
        top5 = None
        if logits.shape[1] > 5:
            best5 = np.argsort(-logits, axis=1)[:, :5]
            top5 = float((best5 == labels[:, None]).any(axis=1).mean() * 100)
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (labels, predicted), 1)
        per_class: dict[str, dict[str, float]] = {}
        for index, name in enumerate(names):
            tp = confusion[index, index]
            predicted_as = confusion[:, index].sum()
            actual = confusion[index, :].sum()
            precision = tp / predicted_as if predicted_as else 0.0
            recall = tp / actual if actual else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_class[name] = {
                "precision": round(float(precision) * 100, 3),
                "recall": round(float(recall) * 100, 3),
                "f1": round(float(f1) * 100, 3),
                "support": int(actual),
            }
        return cls(samples=len(labels), top1=top1, top5=top5, per_class=per_class, confusion=confusion.tolist())

    def summary(self) -> dict[str, Any]:
        """The headline numbers, for tables and stage metrics."""
        return {"top1": round(self.top1, 3), "top5": None if self.top5 is None else round(self.top5, 3)}
