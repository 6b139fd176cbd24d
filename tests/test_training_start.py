"""The training loop's epoch 0 (the start competes for the best selection score) and frozen BatchNorm statistics."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgecv.preflight import preprocessing_for
from edgecv.recipe import load_recipe
from edgecv.stages.params import TrainParams
from edgecv.tasks import get_task
from edgecv.training import TrainOutcome, train_model
from tests.conftest import write_recipe


def _train(tmp_path: Path, model: nn.Module, params: TrainParams, name: str) -> TrainOutcome:
    recipe = load_recipe(write_recipe(tmp_path))
    splits = get_task("classification").load_datasets(recipe.data)
    workdir = tmp_path / name
    workdir.mkdir()
    return train_model(model, splits, preprocessing_for(recipe, splits.labels), params, workdir=workdir)


def _fitted_linear(tmp_path: Path) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    _train(tmp_path, model, TrainParams(epochs=2, lr=0.05, batch_size=32), "fit")
    return model


def test_a_start_no_epoch_beats_is_kept_with_its_weights(tmp_path: Path) -> None:
    model = _fitted_linear(tmp_path)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    ruinous = TrainParams(epochs=1, lr=50.0, momentum=0.0, warmup_epochs=0, batch_size=32, start_competes=True)
    outcome = _train(tmp_path, model, ruinous, "ruin")
    assert outcome.start_score is not None and outcome.start_score > 30  # the fitted start is far above chance
    assert outcome.history[0]["selection"] < outcome.start_score  # the lr ruined the one epoch ...
    assert outcome.best_epoch == 0 and outcome.best_score == outcome.start_score  # ... so the start is kept
    for name, value in start.items():
        torch.testing.assert_close(model.state_dict()[name], value)


def test_without_start_competes_the_best_trained_epoch_is_kept_even_when_worse(tmp_path: Path) -> None:
    model = _fitted_linear(tmp_path)
    ruinous = TrainParams(epochs=1, lr=50.0, momentum=0.0, warmup_epochs=0, batch_size=32)
    outcome = _train(tmp_path, model, ruinous, "ruin")
    assert outcome.start_score is None and outcome.best_epoch == 1


def test_frozen_batchnorm_keeps_running_statistics_while_the_rest_learns(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10))
    bn = model[1]
    assert isinstance(bn, nn.BatchNorm2d)
    bn.running_mean.fill_(0.25)
    bn.running_var.fill_(2.0)
    conv_before, affine_before = model[0].weight.detach().clone(), bn.weight.detach().clone()
    _train(tmp_path, model, TrainParams(epochs=1, lr=0.05, batch_size=32, freeze_batchnorm=True), "frozen")
    assert torch.equal(bn.running_mean, torch.full((8,), 0.25)) and torch.equal(bn.running_var, torch.full((8,), 2.0))
    assert int(bn.num_batches_tracked) == 0
    assert not torch.equal(model[0].weight, conv_before) and not torch.equal(bn.weight, affine_before)
    _train(tmp_path, model, TrainParams(epochs=1, lr=0.05, batch_size=32), "unfrozen")
    assert not torch.equal(bn.running_mean, torch.full((8,), 0.25))  # without the option the statistics move
