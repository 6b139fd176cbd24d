"""Accuracy-controlled quantization: keep the most sensitive layers in float until the accuracy budget holds.

The budget is a maximum top-1 drop against the FP32 model on the same images: ``absolute`` in points
(81.0 -> 80.6 is a drop of 0.4) or ``relative`` in percent of the FP32 top-1 (0.4 / 81.0 = 0.49 %).

The search walks the sensitivity ranking (see :mod:`edgecv.quantize.sensitivity`): keeping the top ``k`` layers
in float, with ``k`` = 1, 2, 4, ... until the budget holds, then bisecting down to the smallest such ``k``. Each
trial is a full re-quantization with those layers in NNCF's ignored scope, exported and measured, so the
accuracy judged is the deployed artifact's.

Worked example: FP32 81.02, budget 0.3 absolute, all-INT8 80.50 (drop 0.52). k=1 gives 80.61, k=2 gives 80.80
(drop 0.22, met), so k=2: the two most sensitive layers stay float; trials k=0,1,2 go into the report.

Example::

    budget = Budget(0.3, "absolute")
    outcome = search_float_layers(names, evaluate, budget, reference_top1=81.02, initial_top1=80.50, limit=8)
    outcome.float_layers, outcome.met, [t.as_dict() for t in outcome.trials]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Budget:
    """A maximum top-1 drop, ``absolute`` (points) or ``relative`` (percent of the reference top-1)."""

    max_drop: float
    kind: str = "absolute"

    def drop(self, reference_top1: float, top1: float) -> float:
        """The drop of ``top1`` from ``reference_top1`` in this budget's unit."""
        points = reference_top1 - top1
        return points if self.kind == "absolute" else 100.0 * points / max(reference_top1, 1e-9)

    def met(self, reference_top1: float, top1: float) -> bool:
        return self.drop(reference_top1, top1) <= self.max_drop + 1e-9

    def describe(self) -> str:
        return f"{self.max_drop:g} points" if self.kind == "absolute" else f"{self.max_drop:g}% of the FP32 top-1"


@dataclass
class Trial:
    """One candidate: how many of the ranked layers were kept in float, and its measured top-1 and drop."""

    float_layers: int
    top1: float
    drop: float
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return {"float_layers": self.float_layers, "top1": round(self.top1, 3), "drop": round(self.drop, 3),
                "met": self.met}


@dataclass
class SearchOutcome:
    """The chosen number of float layers, whether the budget holds, the trials, and the chosen trial's payload."""

    float_layers: int
    met: bool
    trials: list[Trial] = field(default_factory=list)
    payload: Any = None


Evaluate = Callable[[list[str]], tuple[float, Any]]
"""(layer names kept in float) -> (top-1 of the resulting artifact, anything to keep for the chosen one)."""


def _steps(limit: int) -> list[int]:
    steps, k = [], 1
    while k < limit:
        steps.append(k)
        k *= 2
    return [*steps, limit] if limit > 0 else []


def search_float_layers(
    ranked: list[str],
    evaluate: Evaluate,
    budget: Budget,
    *,
    reference_top1: float,
    initial_top1: float,
    initial_payload: Any = None,
    limit: int | None = None,
) -> SearchOutcome:
    """The smallest prefix of ``ranked`` to keep in float so the budget holds (see the module docstring)."""
    limit = min(len(ranked), limit if limit is not None else len(ranked))
    results: dict[int, tuple[float, Any]] = {0: (initial_top1, initial_payload)}

    def trial(k: int) -> bool:
        if k not in results:
            results[k] = evaluate(ranked[:k])
        return budget.met(reference_top1, results[k][0])

    low, high = 0, None
    if not trial(0):
        for k in _steps(limit):
            if trial(k):
                high = k
                break
            low = k
        while high is not None and high - low > 1:
            middle = (low + high) // 2
            if trial(middle):
                high = middle
            else:
                low = middle
    else:
        high = 0
    met = high is not None
    chosen = high if high is not None else max(results, key=lambda k: (results[k][0], -k))
    trials = [
        Trial(k, top1, budget.drop(reference_top1, top1), budget.met(reference_top1, top1))
        for k, (top1, _) in sorted(results.items())
    ]
    return SearchOutcome(chosen, met, trials, results[chosen][1])
