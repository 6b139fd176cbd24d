"""Accuracy control's choices among quantization settings, each candidate scored all-INT8 on the selection split.

- Range estimators (``range_estimator: [minmax, histogram, percentile]``): each candidate quantizes the whole model
  and the best score is kept (the first listed on a tie). Which estimator suits a model is a property of its
  activations, not of the scheme (ESPNet on CamVid: minmax, histogram and percentile differ by up to 0.7 point mIoU
  all-INT8).
- Weight storage (``weight_type: fastest``) where ONNX Runtime's u8s8 kernels saturate (x86 without VNNI:
  :mod:`edgecv.quantize.cpu_isa`): 7-bit int8 weights run the u8s8 kernels (ResNet20 on CIFAR-10: 1.76x FP32 at
  batch 1 against 1.19x with uint8 weights, ``bench/results/weight_format.md``), uint8 weights keep all 8 bits.
  The faster is kept when its drop is within the budget, else the next; nothing is scored where there is one
  candidate (a CPU whose int8 sums do not saturate: int8 is both the faster and the full-precision one).

Every score is recorded in the stage's metrics.

Example::

    choice = choose_range_estimator(["minmax", "percentile"], quantize, score, higher_is_better=True)
    choice.chosen, choice.scores        # "percentile", {"minmax": 80.1, "percentile": 80.9}
    choice = choose_within_budget(["int8", "uint8"], quantize, score, lambda value: 81.02 - value <= 0.5)
    choice.chosen, choice.scores        # "int8", {"int8": 80.70}  (uint8 never built)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class SettingChoice:
    """The setting kept, its fake-quantized model and its score, and every candidate's score on selection."""

    chosen: str
    model: Any
    score: float | None
    scores: dict[str, float]

    def record(self) -> dict[str, Any]:
        """What the stage's metrics store: the scores by setting and which was kept."""
        return {"chosen": self.chosen, "selection_scores": {k: round(v, 3) for k, v in self.scores.items()}}


def choose_range_estimator(
    candidates: list[str], quantize: Callable[[str], Any], score: Callable[[str, Any], float],
    higher_is_better: bool = True,
) -> SettingChoice:
    """Quantize with each of ``candidates`` (``quantize(name)`` returns the model), score it (``score(name,
    model)`` on the selection split), and keep the best; only the best model is held in memory."""
    best: SettingChoice | None = None
    scores: dict[str, float] = {}
    for name in candidates:
        model = quantize(name)
        value = scores[name] = score(name, model)
        if best is None or (value > best.score if higher_is_better else value < best.score):  # type: ignore[operator]
            best = SettingChoice(name, model, value, scores)
        del model
    assert best is not None, "at least one candidate"
    best.scores = scores
    return best


def choose_within_budget(
    candidates: list[str], quantize: Callable[[str], Any], score: Callable[[str, Any], float],
    within_budget: Callable[[float], bool],
) -> SettingChoice:
    """The first of ``candidates`` (fastest first) whose score meets ``within_budget``, else the last; a single
    candidate is kept unscored."""
    scores: dict[str, float] = {}
    for index, name in enumerate(candidates):
        model = quantize(name)
        if len(candidates) == 1:
            return SettingChoice(name, model, None, scores)
        value = scores[name] = score(name, model)
        if within_budget(value) or index == len(candidates) - 1:
            return SettingChoice(name, model, value, scores)
        del model
    raise ValueError("at least one candidate")
