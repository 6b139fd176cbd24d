"""Accuracy-controlled quantization: keep the most sensitive layers in float until the accuracy budget holds.

The budget is a maximum drop of the task's primary metric (top-1 for classification) against the FP32 model on the
same images: ``absolute`` in points (81.0 -> 80.6 is a drop of 0.4) or ``relative`` in percent of the FP32 value
(0.4 / 81.0 = 0.49 %). For a metric where lower is better, a rise is the drop.

The search walks the sensitivity ranking (see :mod:`edgecv.quantize.sensitivity`): keeping the top ``k`` layers
in float, with ``k`` = 1, 2, 4, ... until the budget holds, then bisecting down to the smallest such ``k``. A
trial edits the exported INT8 graph (:mod:`edgecv.quantize.trial_graph`: the layers' Q/DQ removed, their FP32
weights and bias back) and measures it in the scheme's runtime form; the chosen set is then quantized once more
with those layers in NNCF's ignored scope, and that artifact's own metric is what the stage reports as met or not.
Layers the graph cannot name (an op without a module) fall back to trials that re-quantize.

Worked example: FP32 81.02, budget 0.3 absolute, all-INT8 80.50 (drop 0.52). k=1 gives 80.61, k=2 gives 80.80
(drop 0.22, met), so k=2: the two most sensitive layers stay float; trials k=0,1,2 go into the report.

Example::

    budget = Budget(0.3, "absolute")
    outcome = search_float_layers(names, evaluate, budget, reference=81.02, initial=80.50, limit=8)
    outcome.float_layers, outcome.met, [t.as_dict() for t in outcome.trials]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Budget:
    """A maximum drop of the metric, ``absolute`` (points) or ``relative`` (percent of the reference value)."""

    max_drop: float
    kind: str = "absolute"
    higher_is_better: bool = True

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference``, in this budget's unit."""
        points = reference - value if self.higher_is_better else value - reference
        return points if self.kind == "absolute" else 100.0 * points / max(abs(reference), 1e-9)

    def met(self, reference: float, value: float) -> bool:
        return self.drop(reference, value) <= self.max_drop + 1e-9

    def describe(self) -> str:
        return f"{self.max_drop:g} points" if self.kind == "absolute" else f"{self.max_drop:g}% of the FP32 value"


@dataclass
class Trial:
    """One candidate: how many of the ranked layers were kept in float, and its measured metric and drop."""

    float_layers: int
    score: float
    drop: float
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return {"float_layers": self.float_layers, "score": round(self.score, 3), "drop": round(self.drop, 3),
                "met": self.met}


@dataclass
class SearchOutcome:
    """The chosen number of float layers, whether the budget holds, the trials, and the chosen trial's payload."""

    float_layers: int
    met: bool
    trials: list[Trial] = field(default_factory=list)
    payload: Any = None


Evaluate = Callable[[list[str]], tuple[float, Any]]
"""(layer names kept in float) -> (metric of the resulting artifact, anything to keep for the chosen one)."""


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
    reference: float,
    initial: float,
    initial_payload: Any = None,
    limit: int | None = None,
) -> SearchOutcome:
    """The smallest prefix of ``ranked`` to keep in float so the budget holds (see the module docstring)."""
    limit = min(len(ranked), limit if limit is not None else len(ranked))
    results: dict[int, tuple[float, Any]] = {0: (initial, initial_payload)}

    def trial(k: int) -> bool:
        if k not in results:
            results[k] = evaluate(ranked[:k])
        return budget.met(reference, results[k][0])

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
        Trial(k, value, budget.drop(reference, value), budget.met(reference, value))
        for k, (value, _) in sorted(results.items())
    ]
    return SearchOutcome(chosen, met, trials, results[chosen][1])


RANKING_METRIC = "output NMSE reduction with the layer in float, on calibration images (the train split)"


def search_record(budget: Budget, metric: str, reference: float, samples: int, met: bool, kept: list[str],
                  ranking: list[Any], outcome: SearchOutcome) -> dict[str, Any]:
    """What a stage stores of one accuracy-controlled search (``ranking``: LayerSensitivity, most sensitive first)."""
    return {
        "budget": budget.describe(), "metric": metric, "reference": round(reference, 3), "samples": samples,
        "judged_on": "selection split", "met": met, "float_layers": kept, "ranking_metric": RANKING_METRIC,
        "ranking": [{**r.as_dict(), "kept_float": r.name in kept} for r in ranking],
        "trials": [t.as_dict() for t in outcome.trials],
    }
