"""Accuracy control's choices: the range estimator with the best all-INT8 score on selection (the first listed on a
tie, lower is better for a lower-is-better metric), and the fastest weight storage within the budget; every score is
recorded."""

from __future__ import annotations

from edgecv.quantize.setting_choice import choose_range_estimator, choose_within_budget


def test_the_best_selection_score_is_kept_and_every_score_recorded() -> None:
    scores = {"minmax": 80.1, "histogram": 81.5, "percentile": 81.5}
    quantized: list[str] = []

    def quantize(name: str) -> str:
        quantized.append(name)
        return f"model-{name}"

    choice = choose_range_estimator(list(scores), quantize, lambda name, model: scores[name])
    assert quantized == list(scores)
    assert (choice.chosen, choice.model, choice.score) == ("histogram", "model-histogram", 81.5)
    assert choice.record() == {"chosen": "histogram", "selection_scores": scores}


def test_lower_is_better_metrics_keep_the_lowest() -> None:
    scores = {"minmax": 3.0, "percentile": 2.0}
    choice = choose_range_estimator(list(scores), str, lambda name, model: scores[name], higher_is_better=False)
    assert choice.chosen == "percentile"


def test_the_fastest_weight_storage_within_budget_is_kept_without_building_the_slower_one() -> None:
    built: list[str] = []

    def quantize(name: str) -> str:
        built.append(name)
        return f"model-{name}"

    scores = {"int8": 80.7, "uint8": 80.9}
    choice = choose_within_budget(["int8", "uint8"], quantize, lambda n, m: scores[n], lambda v: 81.0 - v <= 0.5)
    assert (choice.chosen, choice.model, choice.score, built) == ("int8", "model-int8", 80.7, ["int8"])
    assert choice.record() == {"chosen": "int8", "selection_scores": {"int8": 80.7}}


def test_past_the_budget_the_next_is_kept_and_the_last_even_when_it_misses_too() -> None:
    scores = {"int8": 79.9, "uint8": 80.6}
    choice = choose_within_budget(["int8", "uint8"], str, lambda n, m: scores[n], lambda v: 81.0 - v <= 0.5)
    assert (choice.chosen, choice.scores) == ("uint8", scores)
    scores = {"int8": 79.9, "uint8": 80.1}  # neither meets it: the last (most precise) goes on to accuracy control
    choice = choose_within_budget(["int8", "uint8"], str, lambda n, m: scores[n], lambda v: 81.0 - v <= 0.5)
    assert (choice.chosen, choice.score) == ("uint8", 80.1)


def test_a_single_candidate_is_kept_unscored() -> None:
    def never(name: str, model: str) -> float:
        raise AssertionError("nothing to choose: nothing to score")

    choice = choose_within_budget(["int8"], str, never, lambda v: False)
    assert (choice.chosen, choice.score, choice.scores) == ("int8", None, {})
