"""The paired bootstrap that says how precisely the selection split measures an INT8 drop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgecv.quantize.accuracy_control import Budget
from edgecv.quantize.selection_noise import PerImage, noise_warning, paired_bootstrap_drop
from edgecv.tasks import get_task

LABELS = [str(i) for i in range(4)]


def _per_image(predictions: np.ndarray, truth: np.ndarray) -> PerImage:
    """One logits row per image, the predicted class 3 units above the rest."""
    per = PerImage()
    for predicted, label in zip(predictions, truth, strict=True):
        logits = np.zeros((1, len(LABELS)), np.float32)
        logits[0, predicted] = 3.0
        per.outputs.append({"logits": logits})
        per.targets.append(torch.tensor([int(label)]))
    return per


def test_a_drop_measured_on_few_images_gets_a_wide_interval_and_a_warning() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 50)
    reference = truth.copy()
    reference[:10] = (truth[:10] + 1) % 4  # 80% top-1
    candidate = reference.copy()
    candidate[10:15] = (truth[10:15] + 1) % 4  # 5 more images wrong: 70%
    task, budget = get_task("classification"), Budget(0.5)
    noise = paired_bootstrap_drop(task, LABELS, _per_image(reference, truth), _per_image(candidate, truth), budget,
                                  resamples=300)
    assert noise["drop"] == 10.0 and noise["images"] == 50
    low, high = noise["interval90"]
    assert 0 < low < 10.0 < high < 20.0  # 5 of 50 images: the share of them in a resample varies
    assert noise["half_width"] > budget.max_drop
    warning = noise_warning(noise, budget, "onnxruntime-cpu")
    assert warning is not None and "50 selection images" in warning and "data.selection_fraction" in warning


def test_identical_outputs_give_a_zero_width_interval_and_no_warning() -> None:
    truth = np.arange(40) % 4
    same = _per_image(truth, truth)
    noise = paired_bootstrap_drop(get_task("classification"), LABELS, same, same, Budget(0.5), resamples=50)
    assert noise["drop"] == 0.0 and noise["interval90"] == [0.0, 0.0]
    assert noise_warning(noise, Budget(0.5), "tensorrt") is None


def test_an_evaluator_that_cannot_select_gives_the_same_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecv.tasks.classification.task import ClassificationEvaluator

    rng = np.random.default_rng(2)
    truth = rng.integers(0, 4, 30)
    reference, candidate = truth.copy(), truth.copy()
    candidate[:6] = (truth[:6] + 1) % 4
    task = get_task("classification")
    args = (task, LABELS, _per_image(reference, truth), _per_image(candidate, truth), Budget(1.0))
    selected = paired_bootstrap_drop(*args, resamples=40)
    monkeypatch.setattr(ClassificationEvaluator, "resampled", lambda self, picks: None)  # the update-again path
    assert paired_bootstrap_drop(*args, resamples=40) == selected
    assert selected["drop"] == 20.0 and selected["half_width"] > 0


def test_a_budget_met_inside_the_noise_is_warned_about() -> None:
    budget = Budget(0.5)
    edge = {"drop": 0.49, "interval90": [0.22, 0.87], "half_width": 0.325, "images": 30}
    warning = noise_warning(edge, budget, "onnxruntime-cpu")
    assert warning is not None and "reaches +0.87" in warning and "smaller max_accuracy_drop" in warning
    clear = {"drop": 0.1, "interval90": [0.0, 0.3], "half_width": 0.15, "images": 30}
    assert noise_warning(clear, budget, "onnxruntime-cpu") is None
    missed = {"drop": 1.13, "interval90": [0.65, 1.53], "half_width": 0.44, "images": 30}  # not met: said elsewhere
    assert noise_warning(missed, budget, "tensorrt") is None
