"""Budgets: judge every artifact x device against the recipe's and the device profile's limits.

Four budgets, each optional, each a limit the value must not exceed:

* ``latency_ms``: p50 latency at batch 1 (``LATENCY_BATCH``), measured on the device when imported, else
  measured on this machine (host-cpu) or estimated from the device profile;
* ``max_accuracy_drop``: points of the task's primary metric (top-1 for classification) below the run's
  baseline (the first validated artifact, on this machine); the artifact's figure is the one measured on the
  device (``device_<metric>``) when imported;
* ``model_size_mb``: the artifact file, MB (1e6 bytes);
* ``memory_mb``: estimated runtime memory, weights plus peak activations (:mod:`edgecv.validate.memory`).

The recipe's ``report.budgets`` override the profile's ``budgets`` field by field. A Verdict's margin is
``limit - value`` (positive: room to spare); an unknown value gives ``passed=None``, which never fails a run.

Example::

    report = recompute_verdicts(report, recipe.report.budgets)
    [f"{v.artifact}/{v.device}: {describe(x)}" for v, x in failures(report)]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from edgecv.report.schema import Report, Validation, Verdict

if TYPE_CHECKING:
    from edgecv.tasks.base import Metric

BUDGETS = ("latency_ms", "max_accuracy_drop", "model_size_mb", "memory_mb")
UNITS = {"latency_ms": "ms", "max_accuracy_drop": "pt", "model_size_mb": "MB", "memory_mb": "MB"}
LABELS = {"latency_ms": "latency", "max_accuracy_drop": "accuracy drop", "model_size_mb": "size", "memory_mb": "memory"}
LATENCY_BATCH = 1
_WHERE = {
    "imported": "measured on the device",
    "measured": "measured on this machine",
    "estimated": "estimated from the device profile",
}


def budget_dict(budgets: BaseModel | dict[str, Any] | None) -> dict[str, float]:
    """The budgets that are set, as ``{name: limit}``, from a Budgets model, a dict or None."""
    if budgets is None:
        return {}
    data = budgets.model_dump() if isinstance(budgets, BaseModel) else dict(budgets)
    return {k: float(v) for k, v in data.items() if k in BUDGETS and v is not None}


def resolve_budgets(
    recipe: BaseModel | dict[str, Any] | None, device: BaseModel | dict[str, Any] | None
) -> dict[str, tuple[float, str]]:
    """``{budget: (limit, source)}``: the device's limits, overridden field by field by the recipe's."""
    limits = {k: (v, "device") for k, v in budget_dict(device).items()}
    limits.update({k: (v, "recipe") for k, v in budget_dict(recipe).items()})
    return {k: limits[k] for k in BUDGETS if k in limits}


def latency_at(v: Validation, batch: int = LATENCY_BATCH) -> float | None:
    """p50 ms at ``batch`` from the validation's latency (the measured one when imported)."""
    return next((r.p50_ms for r in v.latency if r.batch == batch), None)


def task_metric(task: str | None) -> Metric:
    """The primary metric of a task by name (classification when unnamed, as in runs made before tasks)."""
    from edgecv.tasks import get_task

    return get_task(task or "classification").metric


def _value(v: Validation, budget: str, baseline: float | None, metric: Metric) -> tuple[float | None, str]:
    """The value a budget is checked against, and what it is."""
    if budget == "latency_ms":
        ms = latency_at(v)
        if v.latency_source == "none" or not v.latency:
            return None, f"no latency ({v.estimate_detail.get('reason', 'not measured or estimated')})"
        if ms is None:
            return None, f"no batch-{LATENCY_BATCH} latency: add {LATENCY_BATCH} to validate.batch_sizes"
        return ms, f"p50 at batch {LATENCY_BATCH}, {_WHERE.get(v.latency_source, v.latency_source)}"
    if budget == "max_accuracy_drop":
        on_device = v.metrics.get(f"device_{metric.key}")
        value = on_device if on_device is not None else v.metrics.get(metric.key)
        if value is None or baseline is None:
            return None, f"no {metric.label}"
        where = "on the device" if on_device is not None else "on this machine"
        detail = f"{metric.label} points below the baseline ({metric.show(baseline)}), {where}"
        return metric.drop(baseline, value), detail
    if budget == "model_size_mb":
        return v.model_size_mb, "artifact file size"
    detail = v.memory_detail
    if v.memory_mb is None:
        return None, f"no memory estimate ({detail.get('reason', 'not computed')})"
    return v.memory_mb, f"estimated: weights + peak activations at batch {detail.get('batch', 1)}"


def evaluate(
    v: Validation, limits: dict[str, tuple[float, str]], baseline: float | None, metric: Metric | None = None
) -> list[Verdict]:
    """One Verdict per budget that is set; ``passed`` None when the value is unknown."""
    metric = metric or task_metric(None)
    verdicts = []
    for budget, (limit, source) in limits.items():
        value, detail = _value(v, budget, baseline, metric)
        known = value is not None
        verdicts.append(
            Verdict(
                budget=budget,  # type: ignore[arg-type]
                limit=limit,
                value=round(value, 6) if known else None,
                passed=value <= limit if known else None,
                margin=round(limit - value, 6) if known else None,
                source=source,  # type: ignore[arg-type]
                detail=detail,
            )
        )
    return verdicts


def baseline_score(validations: list[Validation], metric: Metric) -> float | None:
    """The metric of the first validated artifact on this machine (``<key> - <key>_delta`` of any entry)."""
    for v in validations:
        value, delta = v.metrics.get(metric.key), v.metrics.get(f"{metric.key}_delta")
        if value is not None:
            return value - (delta or 0.0)
    return None


def apply_budgets(
    validations: list[Validation], recipe_budgets: BaseModel | dict[str, Any] | None, task: str | None = None
) -> None:
    """Set every validation's verdicts in place from the recipe's budgets and its stored device budgets."""
    metric = task_metric(task)
    baseline = baseline_score(validations, metric)
    for v in validations:
        v.verdicts = evaluate(v, resolve_budgets(recipe_budgets, v.device_budgets), baseline, metric)


def recompute_verdicts(report: Report, recipe_budgets: BaseModel | dict[str, Any] | None = None) -> Report:
    """A copy of ``report`` with every verdict recomputed (e.g. after importing device measurements).

    ``recipe_budgets`` defaults to the budgets in the report's own recipe.
    """
    if recipe_budgets is None:
        recipe_budgets = (report.recipe.get("report") or {}).get("budgets") or {}
    updated = report.model_copy(deep=True)
    apply_budgets(updated.validations, recipe_budgets, report.recipe.get("task"))
    return updated


def failures(report: Report) -> list[tuple[Validation, Verdict]]:
    """Every (validation, verdict) that failed; unknown values are not failures."""
    return [(v, x) for v in report.validations for x in v.verdicts if x.passed is False]


def describe(x: Verdict) -> str:
    """``latency_ms 0.211 > 1e-06 ms (recipe)``."""
    unit = UNITS[x.budget]
    if x.value is None:
        return f"{x.budget} unknown, limit {x.limit:g} {unit} ({x.source})"
    sign = "<=" if x.passed else ">"
    return f"{x.budget} {x.value:.4g} {sign} {x.limit:g} {unit} ({x.source}; margin {x.margin:+.4g} {unit})"


def gate_message(report: Report) -> str | None:
    """One line naming the first failing artifact/device/budget (and how many more fail), or None if none fails."""
    failed = failures(report)
    if not failed:
        return None
    v, x = failed[0]
    more = f"; {len(failed) - 1} more failing budget check(s) in report.md" if len(failed) > 1 else ""
    return f"budget exceeded: {v.artifact} on {v.device}: {describe(x)}{more}"
