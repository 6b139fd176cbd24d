"""Budgets: pass, fail and margins; the recipe overrides the device field by field; unknown values; the CI gate."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.devices import Budgets as DeviceBudgets
from edgecv.recipe import Budgets as RecipeBudgets
from edgecv.validate.budgets import (
    apply_budgets,
    evaluate,
    gate_message,
    recompute_verdicts,
    resolve_budgets,
)
from tests.report.helpers import latency, validation


def test_recipe_overrides_device_field_by_field() -> None:
    limits = resolve_budgets(
        RecipeBudgets(latency_ms=5.0), DeviceBudgets(latency_ms=20.0, memory_mb=512.0)
    )
    assert limits == {"latency_ms": (5.0, "recipe"), "memory_mb": (512.0, "device")}
    assert resolve_budgets(None, {"model_size_mb": 3}) == {"model_size_mb": (3.0, "device")}
    assert resolve_budgets(RecipeBudgets(), DeviceBudgets()) == {}


def test_pass_fail_and_margins() -> None:
    v = validation("a", "host-cpu", 90.0, 92.0, 4.0, "measured", model_size_mb=3.0, memory_mb=None)
    limits = {
        "latency_ms": (5.0, "recipe"),
        "max_accuracy_drop": (1.0, "device"),
        "model_size_mb": (2.5, "recipe"),
        "memory_mb": (100.0, "recipe"),
    }
    got = {x.budget: x for x in evaluate(v, limits, baseline=92.0)}
    assert got["latency_ms"].passed is True and got["latency_ms"].margin == pytest.approx(1.0)
    assert "measured on this machine" in got["latency_ms"].detail
    drop = got["max_accuracy_drop"]
    assert (drop.passed, drop.value, drop.margin, drop.source) == (False, pytest.approx(2.0), pytest.approx(-1.0),
                                                                   "device")
    assert got["model_size_mb"].passed is False and got["model_size_mb"].margin == pytest.approx(-0.5)
    memory = got["memory_mb"]
    assert memory.passed is None and memory.value is None and memory.margin is None


def test_unknown_latency_without_batch_one_or_estimate() -> None:
    v = validation("a", "jetson-nano-4gb", 90.0, 90.0, 4.0, "estimated")
    v.latency = [latency(8, 3.0, False)]
    (x,) = evaluate(v, {"latency_ms": (5.0, "recipe")}, 90.0)
    assert x.passed is None and "batch_sizes" in x.detail
    v.latency, v.latency_source = [], "none"
    (x,) = evaluate(v, {"latency_ms": (5.0, "recipe")}, 90.0)
    assert x.passed is None


def test_imported_measurement_and_device_accuracy_decide() -> None:
    v = validation(
        "int8", "jetson-orin-nano-8gb", 91.5, 92.0, 6.0, "imported",
        estimated=[latency(1, 2.0, False)], metrics={"device_top1": 90.5},
    )
    got = {x.budget: x for x in evaluate(v, {"latency_ms": (5.0, "recipe"), "max_accuracy_drop": (1.0, "recipe")},
                                         baseline=92.0)}
    assert got["latency_ms"].passed is False and got["latency_ms"].value == pytest.approx(6.0)
    assert "on the device" in got["latency_ms"].detail
    assert got["max_accuracy_drop"].value == pytest.approx(1.5) and got["max_accuracy_drop"].passed is False


def test_apply_and_recompute_use_the_first_artifact_as_baseline(tiny_run) -> None:
    first = tiny_run.report.validations[0]
    worse = validation("worse", "host-cpu", first.metrics["top1"] - 3.0, first.metrics["top1"], 1.0, "measured",
                       device_budgets={"memory_mb": 1e-3}, memory_mb=0.5)
    report = tiny_run.report.model_copy(deep=True)
    report.validations.append(worse)
    updated = recompute_verdicts(report, {"max_accuracy_drop": 2.0})
    got = {x.budget: x for x in updated.validations[-1].verdicts}
    assert got["max_accuracy_drop"].value == pytest.approx(3.0) and got["max_accuracy_drop"].passed is False
    assert got["memory_mb"].source == "device" and got["memory_mb"].passed is False
    assert report.validations[-1].verdicts == []  # recompute returns a copy
    defaults = recompute_verdicts(report)  # the report's own recipe budgets
    assert {x.budget for x in defaults.validations[0].verdicts} == {"latency_ms", "max_accuracy_drop", "model_size_mb"}
    apply_budgets(report.validations, None)
    assert report.validations[-1].verdicts[0].budget == "memory_mb"


def test_run_records_verdicts_size_and_memory(tiny_run) -> None:
    assert tiny_run.exit_code == 0, tiny_run.output  # without --fail-on-budget budgets are only reported
    for v in tiny_run.report.validations:
        got = {x.budget: x for x in v.verdicts}
        assert got["latency_ms"].passed is False and got["latency_ms"].margin < 0
        assert got["max_accuracy_drop"].passed is True
        assert got["model_size_mb"].passed is True and v.model_size_mb > 0
        assert v.memory_mb and v.memory_detail["weights_mb"] > 0 and v.memory_detail["activations_mb"] > 0
    assert "latency" in gate_message(tiny_run.report)
    markdown = (tiny_run.run_dir / "report.md").read_text()
    assert "## Budgets" in markdown and "FAIL" in markdown


def test_fail_on_budget_exits_3_naming_artifact_device_budget(tiny_run) -> None:
    result = CliRunner().invoke(app, ["compress", str(tiny_run.recipe), "--resume", "--fail-on-budget"])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "trained-onnx" in lines[0] and "host-cpu" in lines[0] and "latency_ms" in lines[0]
    assert "✗" in result.stdout  # the terminal table shows the verdicts
