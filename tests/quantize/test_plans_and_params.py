"""Scheme planning, parameter validation and the accuracy-budget search: no NNCF, milliseconds each."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecv.devices import load_device
from edgecv.errors import RecipeError
from edgecv.quantize.accuracy_control import Budget, search_float_layers
from edgecv.quantize.layers import Layer, resolve_ignored
from edgecv.quantize.schemes import plan_artifacts
from edgecv.recipe import load_recipe
from tests.conftest import write_recipe


def devices(*names: str) -> list:
    return [load_device(n) for n in names]


def test_auto_scheme_gives_one_artifact_per_scheme_with_its_devices() -> None:
    plans, notes = plan_artifacts("int8", "auto", devices("host-cpu", "jetson-orin-nano-8gb", "jetson-xavier-nx"))
    assert [(p.scheme.name, p.targets) for p in plans] == [
        ("onnxruntime-cpu", ["host-cpu"]),
        ("tensorrt", ["jetson-orin-nano-8gb", "jetson-xavier-nx"]),
    ]
    assert [p.artifact_name(None) for p in plans] == ["int8-ort-cpu", "int8-tensorrt"]
    assert notes == []


def test_devices_without_int8_are_left_out_and_said_so() -> None:
    plans, notes = plan_artifacts("int8", "auto", devices("jetson-nano-4gb", "jetson-orin-nano-8gb"))
    assert [p.targets for p in plans] == [["jetson-orin-nano-8gb"]]
    assert "jetson-nano-4gb" in notes[0] and "int8" in notes[0]


def test_fp16_targets_only_devices_that_run_it_and_int8_needs_one_device() -> None:
    plans, _ = plan_artifacts("fp16", "auto", devices("host-cpu", "jetson-nano-4gb"))
    assert plans[0].scheme is None and plans[0].targets == ["jetson-nano-4gb"]
    with pytest.raises(RecipeError, match=r"stages\[2\].precision.*none of validate.devices"):
        plan_artifacts("int8", "auto", devices("jetson-nano-4gb", "jetson-tx2"), key="stages[2]")


def test_a_forced_scheme_serves_every_int8_device_with_a_note() -> None:
    plans, notes = plan_artifacts("int8", "tensorrt", devices("host-cpu", "jetson-orin-nano-8gb"))
    assert len(plans) == 1 and plans[0].targets == ["host-cpu", "jetson-orin-nano-8gb"]
    assert any("host-cpu" in n and "forced" in n for n in notes)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"type": "quantize", "qat": {"epochs": 1}}, r"stages\[0\].*need method: qat"),
        ({"type": "quantize", "precision": "fp16", "max_accuracy_drop": 1.0}, r"precision fp16 takes no"),
        ({"type": "quantize", "ignored_scope": ["re:layer[1"]}, r"ignored_scope\[0\].*not a valid regex"),
        ({"type": "quantize", "method": "qat", "max_accuracy_drop": 1.0}, r"applies to method ptq"),
        ({"type": "quantize", "calibration_sise": 10}, r"unknown key.*did you mean 'calibration_size'"),
        ({"type": "quantize", "calibration_size": 0}, r"calibration_size.*greater than 0"),
        ({"type": "quantize", "bias_correction": "full"}, r"bias_correction"),
        ({"type": "quantize", "drop_type": "relative", "max_accuracy_drop": 150}, r"below 100"),
        ({"type": "quantize", "range_estimator": ["minmax", "percentile"]}, r"set max_accuracy_drop"),
        ({"type": "quantize", "range_estimator": ["minmax", "minmax"], "max_accuracy_drop": 1}, r"two different"),
        ({"type": "quantize", "range_estimator": ["minmax", "histo"], "max_accuracy_drop": 1}, r"range_estimator"),
    ],
)
def test_bad_parameters_are_recipe_errors_naming_the_key(tmp_path: Path, stage: dict, message: str) -> None:
    path = write_recipe(tmp_path, stages=[stage])
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_an_ignored_scope_entry_that_matches_nothing_names_the_layers() -> None:
    layers = [Layer("conv1/conv2d/0", "conv1", "conv2d", (1,), ()), Layer("fc/linear/0", "fc", "linear", (1,), ())]
    assert [x.name for x in resolve_ignored(["re:c.*", "fc"], layers, "stages[0]")] == ["conv1", "fc"]
    assert [x.name for x in resolve_ignored(["fc/linear/0"], layers, "stages[0]")] == ["fc"]
    with pytest.raises(RecipeError, match=r"stages\[0\].ignored_scope\[1\]': 'layer9' matches no.*conv1, fc"):
        resolve_ignored(["fc", "layer9"], layers, "stages[0]")


def test_the_search_keeps_the_shortest_ranked_prefix_that_meets_the_budget() -> None:
    # each float layer of the ranking gains accuracy: 80.0 with none, then +0.2, +0.1, +0.05, ...
    gains = [0.2, 0.1, 0.05, 0.02, 0.01, 0.0, 0.0, 0.0]
    calls: list[int] = []

    def evaluate(names: list[str]) -> tuple[float, str]:
        calls.append(len(names))
        return 80.0 + sum(gains[: len(names)]), "+".join(names)

    ranked = [f"l{i}" for i in range(8)]
    outcome = search_float_layers(ranked, evaluate, Budget(0.65), reference=80.9, initial=80.0)
    assert outcome.met and outcome.float_layers == 2 and outcome.payload == "l0+l1"  # 80.3 -> drop 0.6
    assert calls == [1, 2]
    relative = Budget(0.7, "relative")  # 0.7% of 80.9 = 0.566 points: 3 layers (drop 0.55) meet it, 2 do not
    outcome = search_float_layers(ranked, evaluate, relative, reference=80.9, initial=80.0)
    chosen = next(t for t in outcome.trials if t.float_layers == outcome.float_layers)
    assert outcome.float_layers == 3 and chosen.drop == pytest.approx(100 * 0.55 / 80.9, abs=1e-6)
    hopeless = search_float_layers(ranked, evaluate, Budget(0.1), reference=80.9, initial=80.0, limit=3)
    assert not hopeless.met and hopeless.float_layers == 3 and max(t.float_layers for t in hopeless.trials) == 3
