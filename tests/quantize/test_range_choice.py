"""Accuracy control's choice of range estimator: the best all-INT8 score on selection is kept (the first listed on
a tie, lower is better for a lower-is-better metric), every score is recorded, and a recipe stage reaches it."""

from __future__ import annotations

from edgecv.quantize.range_choice import choose_range_estimator


def test_the_best_selection_score_is_kept_and_every_score_recorded() -> None:
    scores = {"minmax": 80.1, "histogram": 81.5, "percentile": 81.5}
    quantized: list[str] = []

    def quantize(name: str) -> str:
        quantized.append(name)
        return f"model-{name}"

    choice = choose_range_estimator(list(scores), quantize, lambda name, model: scores[name])
    assert quantized == list(scores)
    assert (choice.estimator, choice.model, choice.score) == ("histogram", "model-histogram", 81.5)
    assert choice.record() == {"chosen": "histogram", "selection_scores": scores}


def test_lower_is_better_metrics_keep_the_lowest() -> None:
    scores = {"minmax": 3.0, "percentile": 2.0}
    choice = choose_range_estimator(list(scores), str, lambda name, model: scores[name], higher_is_better=False)
    assert choice.estimator == "percentile"
