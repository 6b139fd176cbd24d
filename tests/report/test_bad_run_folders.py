"""``edgecv report RUN`` and ``edgecv deploy RUN`` on a damaged run folder: one line, exit 2, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecv.cli import app

DEVICE = "jetson-orin-nano-8gb"
runner = CliRunner()


def _one_line_failure(args: list[str], *expected: str) -> str:
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def run_copy(tiny_run, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run_dir)
    return run_dir


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "{}", "not an edgecv report (field 'edgecv_version'"),
        (lambda text: "[1, 2]", "not an edgecv report"),
    ],
)
def test_truncated_or_empty_report_json(run_copy: Path, damage, expected: str) -> None:
    path = run_copy / "report.json"
    path.write_text(damage(path.read_text()))
    before = sorted(p.name for p in run_copy.iterdir())
    for verb in (["report", str(run_copy)], ["deploy", str(run_copy), "--device", DEVICE, "--images", "0"]):
        _one_line_failure(verb, str(path), expected, "re-run the recipe or restore report.json")
    assert sorted(p.name for p in run_copy.iterdir()) == before


def test_deploy_of_a_copied_run_whose_onnx_is_gone(tiny_run, run_copy: Path) -> None:
    """The copy's report.json still names the original run's ONNX file, which exists; it must not be used."""
    (onnx,) = run_copy.rglob("*.onnx")
    onnx.unlink()
    original = tiny_run.run_dir / onnx.relative_to(run_copy)
    assert original.is_file()
    _one_line_failure(["deploy", str(run_copy), "--device", DEVICE, "--images", "0"], str(run_copy),
                      "is missing", "re-run the recipe")
    assert not (run_copy / "deploy").exists()


def test_deploy_of_a_copied_run_uses_its_own_onnx_and_refuses_a_changed_one(run_copy: Path, tmp_path: Path) -> None:
    (onnx,) = run_copy.rglob("*.onnx")
    result = runner.invoke(app, ["deploy", str(run_copy), "--device", DEVICE, "--images", "0"])
    assert result.exit_code == 0, result.output
    (bundle,) = (p for p in (run_copy / "deploy").iterdir() if p.is_dir())
    assert '"run_dir": "' + str(run_copy) in (bundle / "manifest.json").read_text()
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    _one_line_failure(["deploy", str(run_copy), "--device", DEVICE, "--images", "0", "--out", str(tmp_path / "b")],
                      "sha256 differs")
    assert not (tmp_path / "b").exists()


def test_deploy_out_that_is_a_file(run_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    line = _one_line_failure(["deploy", str(run_copy), "--device", DEVICE, "--out", str(tmp_path / "taken" / "b")])
    assert "is under the file" in line and "give a folder" in line, line
