"""The task seam: tasks are found by folder, and classification's task gives the numbers edgecv always gave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgecv.errors import RecipeError
from edgecv.tasks import get_task, task_names
from edgecv.tasks.classification.metrics import ClassificationMetrics


def test_tasks_are_found_by_folder() -> None:
    assert "classification" in task_names()
    task = get_task("classification")
    assert task.name == "classification" and task.metric.key == "top1" and task.deepstream_network_type == 1
    with pytest.raises(RecipeError, match="unknown task 'clasification': did you mean 'classification'"):
        get_task("clasification")


def test_the_metric_knows_its_direction() -> None:
    metric = get_task("classification").metric
    assert metric.drop(81.02, 80.5) == pytest.approx(0.52)
    assert metric.value({"top1": 80.5}) == 80.5 and metric.value({}) is None
    assert metric.show(80.5) == "80.50%"


def test_classification_evaluator_over_batches_equals_the_metrics_at_once() -> None:
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(100, 10)).astype(np.float32), rng.integers(0, 10, 100)
    names = [str(i) for i in range(10)]
    task = get_task("classification")
    evaluator = task.evaluator(names)
    for start in range(0, 100, 32):
        evaluator.update({"logits": logits[start : start + 32]}, labels[start : start + 32])
    at_once = ClassificationMetrics.from_logits(logits, labels, names).model_dump()
    assert evaluator.compute() == at_once
    assert at_once["top1"] == pytest.approx(float((logits.argmax(1) == labels).mean() * 100))


def test_classification_losses() -> None:
    task = get_task("classification")
    logits, labels = torch.tensor([[4.0, 0.0], [0.0, 4.0]]), torch.tensor([0, 1])
    assert float(task.loss(logits, labels)) == pytest.approx(float(np.log1p(np.exp(-4.0))), rel=1e-5)
    assert float(task.distill_loss(logits, logits, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(task.divergence(logits, logits)) == pytest.approx(0.0, abs=1e-6)
    assert float(task.divergence(logits, logits.flip(1))) > 1.0


def test_classification_refuses_a_detection_data_format(tmp_path) -> None:
    from edgecv.errors import DataError
    from edgecv.recipe import DataSection

    with pytest.raises(DataError, match=r"data\.format': yolo holds boxes.*task: detection"):
        get_task("classification").load_datasets(DataSection(format="yolo", train=tmp_path))
