"""One tiny run shared by the report tests (trained once per session through the CLI, with budgets set)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.report.build import load_report
from edgecv.report.schema import Report
from tests.conftest import write_recipe

BUDGETS = {"latency_ms": 1e-6, "max_accuracy_drop": 5.0, "model_size_mb": 100.0}


@dataclass
class TinyRun:
    recipe: Path
    run_dir: Path
    report: Report
    exit_code: int
    output: str


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The tiny recipe with an impossible latency budget (1e-6 ms), run by ``edgecv compress`` without gating."""
    tmp = tmp_path_factory.mktemp("report-run")
    recipe = write_recipe(
        tmp,
        validate={"devices": ["host-cpu", "jetson-orin-nano-8gb"]},
        report={"formats": ["json", "md", "html"], "budgets": BUDGETS},
    )
    result = CliRunner().invoke(app, ["compress", str(recipe)])
    (run_dir,) = [p.parent for p in (tmp / "runs").rglob("report.json")]
    return TinyRun(recipe, run_dir, load_report(run_dir), result.exit_code, result.output)
