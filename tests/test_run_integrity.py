"""A run is reproducible (same recipe, same seed, same numbers), movable (paths relative to the run folder), and
``--resume`` reuses only files that are exactly what the run wrote (sha256 checked)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecv.api import compress
from edgecv.cli import app
from edgecv.report.build import load_report
from edgecv.report.schema import Report
from tests.conftest import write_recipe


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report, Report]:
    """The same tiny recipe run twice (the model is built, so its initial weights drawn, inside each run)."""
    tmp = tmp_path_factory.mktemp("integrity")
    recipe = write_recipe(tmp, train={"epochs": 2, "lr": 0.05, "augment": "crop"})
    return recipe, compress(recipe), compress(recipe)


def test_the_same_recipe_gives_the_same_numbers(two_runs: tuple[Path, Report, Report]) -> None:
    _, first, second = two_runs
    assert first.run_dir != second.run_dir
    train_a, train_b = (next(s for s in r.stages if s.kind == "train") for r in (first, second))
    assert train_a.metrics["history"][-1]["loss"] == train_b.metrics["history"][-1]["loss"]
    assert [h["selection"] for h in train_a.metrics["history"]] == [h["selection"] for h in train_b.metrics["history"]]
    assert [v.metrics["top1"] for v in first.validations] == [v.metrics["top1"] for v in second.validations]
    onnx_a, onnx_b = (next(a for a in r.artifacts if a.format == "onnx") for r in (first, second))
    assert onnx_a.sha256 == onnx_b.sha256
    assert first.data["seeds"] == {"recipe": 0, "data": 0, "train": 0}


def test_the_report_says_which_images_made_the_decisions(two_runs: tuple[Path, Report, Report]) -> None:
    _, first, _ = two_runs
    assert first.data["selection_images"] > 0 and "selection split" in first.data["decisions"]
    markdown = (Path(first.run_dir) / "report.md").read_text()
    assert "selection" in markdown and "Decisions:" in markdown


def test_paths_are_stored_relative_so_a_copied_run_uses_its_own_files(
    two_runs: tuple[Path, Report, Report], tmp_path: Path
) -> None:
    _, first, _ = two_runs
    stored = json.loads((Path(first.run_dir) / "report.json").read_text())
    assert all(not Path(a["path"]).is_absolute() for a in stored["artifacts"])
    stage = json.loads((Path(first.run_dir) / "02-export-onnx" / "stage.json").read_text())
    assert stage["outputs"][0]["path"] == "02-export-onnx/trained.onnx"
    copy = tmp_path / "copied-run"
    shutil.copytree(first.run_dir, copy)
    moved = load_report(copy)
    assert moved.run_dir == str(copy)
    assert all(Path(a.path).is_relative_to(copy) and Path(a.path).is_file() for a in moved.artifacts)


def test_resume_refuses_a_file_changed_after_the_run_wrote_it(two_runs: tuple[Path, Report, Report]) -> None:
    recipe, _, second = two_runs  # --resume continues the newest run: the second
    onnx_file = Path(second.run_dir) / "02-export-onnx" / "trained.onnx"
    original = onnx_file.read_bytes()
    onnx_file.write_bytes(original[:-8] + b"tampered")
    try:
        result = CliRunner().invoke(app, ["compress", str(recipe), "--resume"])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and len(errors) == 1, result.stderr
        assert "trained.onnx was changed after the run wrote it" in errors[0] and "sha256" in errors[0]
    finally:
        onnx_file.write_bytes(original)
