"""Merge measurements made on the device (a bundle's ``results.json``) into a run's report.

The (artifact, device) validation gets the device's latency (``latency_source="imported"``; an estimate it had
is kept in ``estimated``), the device's task metrics on the bundled images as ``metrics["device_<key>"]``
(``device_top1``, ``device_top5`` for classification) with ``device_images``, and its verdicts are recomputed;
report.md/html are re-rendered. A copy of the results is kept in ``<run>/imports/<device>-<artifact>.json``.

The whole file is checked first (:class:`DeviceResults`): types, device and artifact names (no paths, no markup),
and the ``onnx_sha256`` of the model the device ran, which must be this run's artifact.

Example::

    report = import_results(Path("runs/q/RUN"), Path("results.json"))
    [v.latency_source for v in report.validations]       # [..., "imported"]
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgecv.artifacts import atomic_write_json
from edgecv.errors import RecipeError
from edgecv.report.schema import Report, Validation
from edgecv.validate.latency import LatencyResult

RESULTS_FORMAT = "edgecv-device-results/1"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a device or artifact name may look like: it becomes a file name under ``<run>/imports/``."""


def _safe_name(value: str) -> str:
    if not NAME.match(value) or ".." in value or value.endswith((".yaml", ".yml")):
        raise ValueError(f"{value!r} is not a plain name (letters, digits, '_', '.', '-'; no '..', no path)")
    return value


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ResultsBundle(_Lenient):
    """Which bundle ran: its device profile and artifact names."""

    device: str
    artifact: str
    name: str | None = None
    edgecv_version: str | None = None

    @field_validator("device", "artifact")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _safe_name(value)


class ResultsAccuracy(_Lenient):
    samples: int = Field(ge=0)
    top1: float | None = Field(None, ge=0, le=100)
    top5: float | None = Field(None, ge=0, le=100)
    correct: int | None = Field(None, ge=0)
    predictions: list[int] | None = None


class ResultsLatency(_Lenient):
    batch: int = Field(gt=0)
    p50_ms: float = Field(ge=0)
    p90_ms: float = Field(ge=0)
    p99_ms: float = Field(ge=0)
    mean_ms: float = Field(ge=0)
    throughput: float = Field(ge=0)
    runs: int = Field(ge=0)
    threads: int | None = None


class DeviceResults(_Lenient):
    """A bundle's results.json (run_bundle.py), checked field by field before anything is merged."""

    format: str
    bundle: ResultsBundle
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the ONNX file the device ran")
    backend: str
    precision: str = "?"
    accuracy: ResultsAccuracy | None = None
    latency: list[ResultsLatency] = []
    engine: dict[str, Any] | None = None
    device_state: dict[str, Any] | None = None
    host: dict[str, Any] | None = None


def check_results(results: Any, source: str) -> DeviceResults:
    """Validate results.json data; the first problem is a RecipeError naming the field."""
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise RecipeError(f"{source}: not a device results file (format {RESULTS_FORMAT!r} expected)")
    try:
        return DeviceResults.model_validate(results)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"])
        fix = "give the results.json run_bundle.py wrote, unchanged"
        if key == "onnx_sha256":
            fix = "re-run run_bundle.py from a bundle made by this edgecv, so the model it ran can be matched"
        got = err.get("input")
        plain = err["type"] not in ("missing", "value_error") and not isinstance(got, dict | list)
        shown = f" (got {got!r})" if plain else ""
        raise RecipeError(f"{source}: field '{key}': {err['msg'].removeprefix('Value error, ')}{shown}; {fix}") from exc


def load_results(path: Path) -> dict[str, Any]:
    """Read and check a results.json written by a bundle's run_bundle.py."""
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read device results ({exc}); give run_bundle.py's results.json") from exc
    check_results(results, str(path))
    if results.get("backend") != "tensorrt":
        raise RecipeError(
            f"{path}: measured with {results.get('backend')}, not TensorRT on the device (run_bundle.py without "
            "--backend onnxruntime); only device measurements are imported"
        )
    return results


def _device_metrics(results: dict[str, Any], report: Report) -> dict[str, float | None]:
    """The device's figures as ``device_<metric key>`` (``device_top1`` for classification), and its image count."""
    from edgecv.report.metric import headline_metrics

    acc = results.get("accuracy") or {}
    if not acc:
        return {}
    figures: dict[str, float | None] = {f"device_{m.key}": acc.get(m.key) for m in headline_metrics(report)}
    figures["device_images"] = float(acc["samples"]) if acc.get("samples") is not None else None
    return figures


def _new_validation(report: Report, artifact: str, device: str, results: dict[str, Any]) -> Validation:
    from edgecv.devices import load_device
    from edgecv.validate.budgets import budget_dict

    art = next(a for a in report.artifacts if a.name == artifact)
    try:
        device_budgets = budget_dict(load_device(device).budgets)
    except RecipeError:
        device_budgets = {}
    return Validation(
        artifact=artifact,
        device=device,
        backend="tensorrt",
        precision=results.get("precision", "?"),
        metrics={},
        model_size_mb=round(art.size_bytes / 1e6, 6) if art.size_bytes else None,
        device_budgets=device_budgets,
    )


def merge_results(report: Report, results: dict[str, Any], source: str = "results.json") -> Report:
    """A copy of ``report`` with ``results`` merged into its (artifact, device) validation; verdicts recomputed."""
    from edgecv.validate.budgets import recompute_verdicts

    checked = check_results(results, source)
    artifact, device = checked.bundle.artifact, checked.bundle.device
    known = {a.name: a for a in report.artifacts}
    if artifact not in known:
        raise RecipeError(f"{source}: artifact {artifact!r} is not in this run ({', '.join(known)}); wrong run folder?")
    expected = known[artifact].sha256
    if expected is None:
        raise RecipeError(f"{source}: this run recorded no sha256 for '{artifact}', so the device's model cannot be "
                          "matched to it; re-run the recipe with this edgecv")
    if checked.onnx_sha256 != expected:
        raise RecipeError(f"{source}: the device ran another ONNX file than this run's '{artifact}' (sha256 differs)")
    latency = [LatencyResult.model_validate({**r, "measured": True}) for r in results.get("latency", [])]
    updated = report.model_copy(deep=True)
    entry = next((v for v in updated.validations if v.artifact == artifact and v.device == device), None)
    if entry is None:
        entry = _new_validation(updated, artifact, device, results)
        updated.validations.append(entry)
    if entry.latency_source == "estimated":
        entry.estimated = entry.latency
    entry.latency, entry.latency_source = latency, "imported"
    entry.backend, entry.precision = "tensorrt", str(results.get("precision", entry.precision))
    entry.metrics.update(_device_metrics(results, report))
    return recompute_verdicts(updated)


def import_results(run_dir: Path, results_path: Path) -> Report:
    """Merge ``results_path`` into ``run_dir``'s report and rewrite report.json, .md and .html."""
    from edgecv.report.build import load_report, write_reports

    if not (run_dir / "report.json").is_file():
        raise RecipeError(f"{run_dir}: no report.json; give a finished run folder (runs/<name>/<run-id>)")
    results = load_results(results_path)
    report = merge_results(load_report(run_dir), results, str(results_path))
    bundle = check_results(results, str(results_path)).bundle
    imports = (run_dir / "imports").resolve()
    copy = (imports / f"{bundle.device}-{bundle.artifact}.json").resolve()
    if copy.parent != imports:
        raise RecipeError(f"{results_path}: device {bundle.device!r} would be written outside {imports}; fix the name")
    atomic_write_json(copy, results)
    formats = list((report.recipe.get("report") or {}).get("formats") or ["json", "md", "html"])
    write_reports(report, run_dir, formats)
    return report
