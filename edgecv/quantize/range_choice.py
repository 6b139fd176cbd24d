"""Accuracy control's choice among activation range estimators: each candidate quantizes the whole model, its
all-INT8 file is scored on the selection split, and the best is kept (the first listed on a tie).

Which estimator suits a model is a property of its activations, not of the scheme (ESPNet on CamVid: minmax,
histogram and percentile differ by up to 0.7 point mIoU all-INT8), so a recipe may list several
(``range_estimator: [minmax, histogram, percentile]``) and let the selection split decide; every score is recorded.

Example::

    choice = choose_range_estimator(["minmax", "percentile"], quantize, score, higher_is_better=True)
    choice.estimator, choice.scores        # "percentile", {"minmax": 80.1, "percentile": 80.9}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class EstimatorChoice:
    """The estimator kept, its fake-quantized model and its score, and every candidate's score on selection."""

    estimator: str
    model: Any
    score: float
    scores: dict[str, float]

    def record(self) -> dict[str, Any]:
        """What the stage's metrics store: the scores by estimator and which was kept."""
        return {"chosen": self.estimator, "selection_scores": {k: round(v, 3) for k, v in self.scores.items()}}


def choose_range_estimator(
    candidates: list[str], quantize: Callable[[str], Any], score: Callable[[str, Any], float],
    higher_is_better: bool = True,
) -> EstimatorChoice:
    """Quantize with each of ``candidates`` (``quantize(name)`` returns the model), score it (``score(name,
    model)`` on the selection split), and keep the best; only the best model is held in memory."""
    best: EstimatorChoice | None = None
    scores: dict[str, float] = {}
    for name in candidates:
        model = quantize(name)
        value = scores[name] = score(name, model)
        if best is None or (value > best.score if higher_is_better else value < best.score):
            best = EstimatorChoice(name, model, value, scores)
        del model
    assert best is not None, "at least one candidate"
    best.scores = scores
    return best
