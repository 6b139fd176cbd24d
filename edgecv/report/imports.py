"""Merge measurements made on the device (a bundle's ``results.json``) into a run's report.

The (artifact, device) validation gets the device's latency (``latency_source="imported"``; an estimate it had
is kept in ``estimated``), the device's accuracy on the bundled images in ``metrics["device_top1"]`` (and
``device_top5``, ``device_images``), and its verdicts are recomputed; report.md/html are re-rendered. A copy of
the results is kept in ``<run>/imports/``.

Example::

    report = import_results(Path("runs/q/RUN"), Path("results.json"))
    [v.latency_source for v in report.validations]       # [..., "imported"]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgecv.artifacts import atomic_write_json
from edgecv.errors import RecipeError
from edgecv.report.schema import Report, Validation
from edgecv.validate.latency import LatencyResult

RESULTS_FORMAT = "edgecv-device-results/1"


def load_results(path: Path) -> dict[str, Any]:
    """Read and check a results.json written by a bundle's run_bundle.py."""
    try:
        results = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read device results ({exc}); give run_bundle.py's results.json") from exc
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise RecipeError(f"{path}: not a device results file (format {RESULTS_FORMAT!r} expected)")
    if results.get("backend") != "tensorrt":
        raise RecipeError(
            f"{path}: measured with {results.get('backend')}, not TensorRT on the device (run_bundle.py without "
            "--backend onnxruntime); only device measurements are imported"
        )
    return results


def _device_metrics(results: dict[str, Any]) -> dict[str, float | None]:
    acc = results.get("accuracy") or {}
    if not acc:
        return {}
    return {
        "device_top1": acc.get("top1"),
        "device_top5": acc.get("top5"),
        "device_images": float(acc["samples"]) if acc.get("samples") is not None else None,
    }


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

    bundle = results.get("bundle") or {}
    artifact, device = bundle.get("artifact"), bundle.get("device")
    known = {a.name: a for a in report.artifacts}
    if artifact not in known:
        raise RecipeError(f"{source}: artifact {artifact!r} is not in this run ({', '.join(known)}); wrong run folder?")
    digest = results.get("onnx_sha256")
    if digest and known[artifact].sha256 and digest != known[artifact].sha256:
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
    entry.metrics.update(_device_metrics(results))
    return recompute_verdicts(updated)


def import_results(run_dir: Path, results_path: Path) -> Report:
    """Merge ``results_path`` into ``run_dir``'s report and rewrite report.json, .md and .html."""
    from edgecv.report.build import load_report, write_reports

    if not (run_dir / "report.json").is_file():
        raise RecipeError(f"{run_dir}: no report.json; give a finished run folder (runs/<name>/<run-id>)")
    results = load_results(results_path)
    report = merge_results(load_report(run_dir), results, str(results_path))
    bundle = results.get("bundle") or {}
    atomic_write_json(run_dir / "imports" / f"{bundle.get('device')}-{bundle.get('artifact')}.json", results)
    formats = list((report.recipe.get("report") or {}).get("formats") or ["json", "md", "html"])
    write_reports(report, run_dir, formats)
    return report
