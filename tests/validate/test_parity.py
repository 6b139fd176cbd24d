"""Margin-aware parity: near ties cannot fail agreement, the task metric is judged, warn mode, re-judging, and old
report.json parity entries still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecv.recipe import ParityTolerance
from edgecv.report.schema import Report
from edgecv.stages.quantize import QuantParity
from edgecv.validate.parity import ParityResult, compare_outputs, rejudge, save_comparison

N = 200
TIES = np.arange(N) % 2 == 1
"""Every other sample is a near tie."""


def _flat_logits(classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a briefly trained model: a clear winner on half the samples, a near tie (gap 0.02) on the rest,
    whose label is the first of the two on half of them and the second on the other half."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 1.0, (N, classes))
    order, rows = np.argsort(ref, axis=1), np.arange(N)
    ref[rows[~TIES], order[~TIES, -1]] += 3.0
    ref[rows[TIES], order[TIES, -2]] = ref[rows[TIES], order[TIES, -1]] - 0.02
    labels = np.where(TIES & (rows % 4 == 3), order[:, -2], order[:, -1])
    return ref, labels


def _swap_top2(ref: np.ndarray, rows: np.ndarray) -> np.ndarray:
    cand, order = ref.copy(), np.argsort(ref, axis=1)
    first, second = order[rows, -1], order[rows, -2]
    cand[rows, first], cand[rows, second] = ref[rows, second], ref[rows, first]
    return cand


def test_near_ties_that_flip_do_not_fail_agreement_and_both_agreements_are_reported() -> None:
    ref, labels = _flat_logits()
    cand = _swap_top2(ref, np.flatnonzero(TIES))  # every near tie flips, as rounding may do
    result = compare_outputs(ref, cand, QuantParity(), ("fake-quantized", "int8"), labels)
    assert result.top1_agreement == 0.5  # the old criterion failed this
    assert result.passed, result.reason
    assert result.confident_top1_agreement == 1.0 and result.confident_samples == N // 2
    assert result.top1_diff == 0.0 and result.reference_top1 == 75.0
    assert "within tolerance" in result.reason and result.failed == []


def test_confident_samples_that_disagree_fail_with_the_numbers() -> None:
    ref, labels = _flat_logits()
    cand = ref.copy()
    cand[:40:2] = np.roll(ref[:40:2], 1, axis=1)  # a real bug on 20 confident samples
    result = compare_outputs(ref, cand, QuantParity(max_top1_diff=None), labels=labels)
    assert not result.passed and result.failed == ["min_top1_agreement"]
    assert "top-1 agreement 0.8000 < 0.95 on 100 of 200 samples" in result.reason


def test_the_task_metric_difference_is_judged_on_the_labels() -> None:
    ref, labels = _flat_logits()
    cand = ref.copy()
    cand[:20:2] = np.roll(ref[:20:2], 1, axis=1)  # 5% of the images wrong, agreement 0.95 overall
    result = compare_outputs(ref, cand, QuantParity(min_top1_agreement=0.5), labels=labels)
    assert result.failed == ["max_top1_diff"]
    assert result.top1_diff == pytest.approx(-5.0)
    assert "|diff| 5.00 > 2 points" in result.reason


def test_cosine_and_max_abs_are_reported_and_judged_only_when_set() -> None:
    ref, labels = _flat_logits()
    cand = ref * 1.5 + 0.3  # the same predictions, other logits
    loose = compare_outputs(ref, cand, QuantParity(), labels=labels)
    assert loose.passed and loose.max_abs_diff > 0.3 and loose.min_cosine < 1
    strict = compare_outputs(ref, cand, QuantParity(min_cosine=0.9999, max_abs_diff=0.01), labels=labels)
    assert strict.failed == ["min_cosine", "max_abs_diff"] and "min cosine" in strict.reason
    assert not compare_outputs(ref, cand, ParityTolerance(), labels=labels).passed  # FP32 export keeps its cosine


def test_warn_mode_fails_as_a_warning() -> None:
    ref, labels = _flat_logits()
    result = compare_outputs(ref, np.roll(ref, 1, axis=1), QuantParity(mode="warn"), labels=labels)
    assert not result.passed and result.warned and result.verdict.startswith("WARN: ")


def test_a_stored_comparison_is_judged_again_with_new_tolerances(tmp_path: Path) -> None:
    ref, labels = _flat_logits()
    cand = ref.copy()
    cand[:40:2] = np.roll(ref[:40:2], 1, axis=1)
    save_comparison(tmp_path / "int8.parity.npz", ref, cand, labels)
    first = compare_outputs(ref, cand, QuantParity(), labels=labels, judged_by="stages[0].parity",
                            comparison="int8.parity.npz")
    assert not first.passed
    assert rejudge(first, tmp_path, QuantParity()) is first  # same criteria: nothing to do
    again = rejudge(first, tmp_path, QuantParity(min_top1_agreement=0.8, max_top1_diff=10))
    assert again.passed and again.judged_by == "stages[0].parity" and again.tolerance["max_top1_diff"] == 10


def test_parity_entries_of_an_old_report_still_load() -> None:
    old = {"reference": "trained", "candidate": "trained-onnx", "samples": 32, "max_abs_diff": 1e-6,
           "mean_abs_diff": 1e-7, "min_cosine": 1.0, "top1_agreement": 1.0, "passed": True,
           "reason": "within tolerance"}
    result = ParityResult.model_validate(old)
    assert result.mode == "fail" and result.confident_top1_agreement is None and result.verdict == "pass"
    assert "parity" in Report.model_fields and Report.model_fields["parity"].annotation == list[ParityResult]


def test_a_task_comparison_without_stored_outputs_is_judged_again_from_its_numbers(tmp_path: Path) -> None:
    """A detector's comparison keeps no outputs; thresholds and mode still re-judge it, a new min_margin cannot."""
    from edgecv.validate.parity import criteria_of

    strict = QuantParity()
    failed = ParityResult(
        reference="int8 (fake-quantized)", candidate="int8", samples=32, max_abs_diff=0.2, mean_abs_diff=0.01,
        min_cosine=0.99, top1_agreement=0.9428, passed=False, reason="0.9428 of 2621 confident detections < 0.95",
        failed=["min_top1_agreement"], reference_top1=20.0, candidate_top1=19.2, top1_diff=-0.8,
        tolerance=criteria_of(strict), judged_by="stages[0].parity",
    )
    loosened = rejudge(failed, tmp_path, QuantParity(min_top1_agreement=0.9))
    assert loosened.passed and "0.9428" in loosened.reason and "-0.800" in loosened.reason
    tighter_metric = rejudge(failed, tmp_path, QuantParity(min_top1_agreement=0.9, max_top1_diff=0.5))
    assert not tighter_metric.passed and tighter_metric.failed == ["max_top1_diff"]
    warned = rejudge(failed, tmp_path, QuantParity(mode="warn"))
    assert warned.warned and warned.failed == ["min_top1_agreement"]
    assert rejudge(failed, tmp_path, QuantParity(min_top1_agreement=0.9, min_margin=0.5)) is failed
