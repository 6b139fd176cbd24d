"""Budgets: judge every artifact x device against the recipe's and the device profile's limits.

Four budgets, each optional, each a limit the value must not exceed:

* ``latency_ms``: p50 latency at batch 1 (``LATENCY_BATCH``), measured on the device when imported, else
  measured on this machine (host-cpu) or estimated from the device profile;
* ``max_accuracy_drop``: top-1 points below the run's baseline (the first validated artifact, on this
  machine); the artifact's accuracy is the one measured on the device (``device_top1``) when imported;
* ``model_size_mb``: the artifact file, MB (1e6 bytes);
* ``memory_mb``: estimated runtime memory, weights plus peak activations (:mod:`edgecv.validate.memory`).

The recipe's ``report.budgets`` override the profile's ``budgets`` field by field. A Verdict's margin is
``limit - value`` (positive: room to spare); an unknown value gives ``passed=None``, which never fails a run.

Example::

    report = recompute_verdicts(report, recipe.report.budgets)
    [f"{v.artifact}/{v.device}: {describe(x)}" for v, x in failures(report)]
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from edgecv.report.schema import Report, Validation, Verdict

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


def _value(v: Validation, budget: str, baseline: float | None) -> tuple[float | None, str]:
    """The value a budget is checked against, and what it is."""
    if budget == "latency_ms":
        ms = latency_at(v)
        if v.latency_source == "none" or not v.latency:
            return None, f"no latency ({v.estimate_detail.get('reason', 'not measured or estimated')})"
        if ms is None:
            return None, f"no batch-{LATENCY_BATCH} latency: add {LATENCY_BATCH} to validate.batch_sizes"
        return ms, f"p50 at batch {LATENCY_BATCH}, {_WHERE.get(v.latency_source, v.latency_source)}"
    if budget == "max_accuracy_drop":
        on_device = v.metrics.get("device_top1")
        top1 = on_device if on_device is not None else v.metrics.get("top1")
        if top1 is None or baseline is None:
            return None, "no top-1 accuracy"
        where = "on the device" if on_device is not None else "on this machine"
        return baseline - top1, f"top-1 points below the baseline ({baseline:.2f}%), {where}"
    if budget == "model_size_mb":
        return v.model_size_mb, "artifact file size"
    detail = v.memory_detail
    if v.memory_mb is None:
        return None, f"no memory estimate ({detail.get('reason', 'not computed')})"
    return v.memory_mb, f"estimated: weights + peak activations at batch {detail.get('batch', 1)}"


def evaluate(v: Validation, limits: dict[str, tuple[float, str]], baseline: float | None) -> list[Verdict]:
    """One Verdict per budget that is set; ``passed`` None when the value is unknown."""
    verdicts = []
    for budget, (limit, source) in limits.items():
        value, detail = _value(v, budget, baseline)
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


def baseline_top1(validations: list[Validation]) -> float | None:
    """Top-1 of the first validated artifact on this machine (``top1 - top1_delta`` of any entry)."""
    for v in validations:
        top1, delta = v.metrics.get("top1"), v.metrics.get("top1_delta")
        if top1 is not None:
            return top1 - (delta or 0.0)
    return None


def apply_budgets(validations: list[Validation], recipe_budgets: BaseModel | dict[str, Any] | None) -> None:
    """Set every validation's verdicts in place from the recipe's budgets and its stored device budgets."""
    baseline = baseline_top1(validations)
    for v in validations:
        v.verdicts = evaluate(v, resolve_budgets(recipe_budgets, v.device_budgets), baseline)


def recompute_verdicts(report: Report, recipe_budgets: BaseModel | dict[str, Any] | None = None) -> Report:
    """A copy of ``report`` with every verdict recomputed (e.g. after importing device measurements).

    ``recipe_budgets`` defaults to the budgets in the report's own recipe.
    """
    if recipe_budgets is None:
        recipe_budgets = (report.recipe.get("report") or {}).get("budgets") or {}
    updated = report.model_copy(deep=True)
    apply_budgets(updated.validations, recipe_budgets)
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
