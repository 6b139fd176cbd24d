"""``edgecv report RUN --import results.json`` with forged or foreign results: one line naming the field, exit 2,
the report untouched; names that would escape ``<run>/imports/`` or carry markup are refused; HTML is escaped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.report.html import render_html
from edgecv.report.imports import RESULTS_FORMAT

DEVICE = "jetson-orin-nano-8gb"
runner = CliRunner()


def _results(run_dir: Path) -> dict[str, Any]:
    """A well-formed device results.json for the run's ONNX artifact (as run_bundle.py writes it)."""
    report = json.loads((run_dir / "report.json").read_text())
    onnx = next(a for a in report["artifacts"] if a["format"] == "onnx")
    timing = {"batch": 1, "p50_ms": 0.2, "p90_ms": 0.25, "p99_ms": 0.3, "mean_ms": 0.21, "throughput": 5000.0,
              "runs": 5, "timer": "cuda-events"}
    return {
        "format": RESULTS_FORMAT,
        "bundle": {"name": f"{DEVICE}-{onnx['name']}", "device": DEVICE, "artifact": onnx["name"]},
        "onnx_sha256": onnx["sha256"],
        "backend": "tensorrt",
        "precision": "fp16",
        "accuracy": {"samples": 10, "correct": 9, "top1": 90.0, "top5": None, "predictions": [0] * 10},
        "latency": [timing],
    }


@pytest.fixture
def run_copy(tiny_run, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run_dir)
    return run_dir


def _import(run_dir: Path, results: dict[str, Any], tmp_path: Path) -> tuple[int, list[str]]:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    before = (run_dir / "report.json").read_bytes()
    result = runner.invoke(app, ["report", str(run_dir), "--import", str(path)])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.exit_code != 0:
        assert (run_dir / "report.json").read_bytes() == before
        assert not (run_dir / "imports").exists() and not list(tmp_path.rglob("evil*"))
    return result.exit_code, lines


def test_well_formed_results_import(run_copy: Path, tmp_path: Path) -> None:
    code, _ = _import(run_copy, _results(run_copy), tmp_path)
    assert code == 0
    (copy,) = (run_copy / "imports").iterdir()
    assert copy.name == f"{DEVICE}-{_results(run_copy)['bundle']['artifact']}.json"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"latency": 0.2}, "field 'latency': Input should be a valid list"),
        ({"accuracy": {"samples": "abc", "top1": 90.0}}, "field 'accuracy.samples'"),
        ({"bundle": "jetson-orin-nano-8gb"}, "field 'bundle': Input should be a valid dictionary"),
        ({"latency": [{"batch": 1, "p50_ms": "fast"}]}, "field 'latency.0.p50_ms'"),
        ({"onnx_sha256": None}, "field 'onnx_sha256'"),
        ({"onnx_sha256": "0" * 64}, "another ONNX file"),
        ({"bundle": {"device": "../../evil", "artifact": "x"}}, "field 'bundle.device': '../../evil' is not a plain"),
        ({"bundle": {"device": "<img src=x onerror=alert(1)>", "artifact": "x"}}, "field 'bundle.device'"),
        ({"bundle": {"device": "evil.yaml", "artifact": "x"}}, "field 'bundle.device'"),
        ({"bundle": {"device": DEVICE, "artifact": "..%2f..%2fevil"}}, "field 'bundle.artifact'"),
        ({"format": "something-else/1"}, "not a device results file"),
    ],
)
def test_forged_results_are_one_line_naming_the_field(
    run_copy: Path, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    code, lines = _import(run_copy, {**_results(run_copy), **change}, tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert expected in lines[0] and "results.json" in lines[0]


def test_results_without_a_sha256_are_refused(run_copy: Path, tmp_path: Path) -> None:
    results = _results(run_copy)
    del results["onnx_sha256"]
    code, lines = _import(run_copy, results, tmp_path)
    assert code == 2 and len(lines) == 1 and "field 'onnx_sha256': Field required" in lines[0]


def test_user_strings_are_escaped_in_report_html(tiny_run) -> None:
    evil = "<script>alert(1)</script>"
    report = tiny_run.report.model_copy(deep=True)
    report.name = evil
    report.labels = [evil, *report.labels[1:]]
    for v in report.validations:
        v.device, v.artifact, v.precision = f"{evil}-dev", f"{evil}-art", f'"{evil}'
        v.per_class = {f"{evil}{k}": m for k, m in v.per_class.items()}
    for stage in report.stages:
        stage.warnings = [evil]
        for a in stage.outputs:
            a.name = f"{evil}-out"
    for p in report.parity:
        p.reference, p.candidate, p.reason = evil, evil, evil
    page = render_html(report)
    assert "<script" not in page and "&lt;script&gt;" in page
