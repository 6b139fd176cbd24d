"""``--resume`` after a recipe change reuses the stages whose fingerprint still matches: a changed tolerance
re-judges the stored comparison, ``validate.runs`` reruns only validation, ``export.parity.samples`` reruns
quantize, export and validation; training is never redone. A changed model refuses in one line. The run also
applies ``threads.torch`` and records it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edgecv.api import compress
from edgecv.cli import app
from edgecv.report.schema import Report
from tests.conftest import write_recipe

runner = CliRunner()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Report]]:
    """A finished tiny run with a quantize stage, made with one torch thread (two before it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    # a near-chance tiny model on 32 parity images: one flipped image moves top-1 by 3.1 points, so the top-1 bound
    # allows two (the test is about what --resume reruns, not about INT8 accuracy)
    recipe = write_recipe(
        tmp_path_factory.mktemp("fingerprints"), stages=[{"type": "quantize", "parity": {"max_top1_diff": 6.5}}],
        data={"calibration_size": 32},
        threads={"torch": 1}, validate={"devices": ["host-cpu"], "batch_sizes": [1], "warmup": 1, "runs": 3},
    )
    yield recipe, compress(recipe)
    torch.set_num_threads(threads)


def _resume(recipe: Path, *overrides: str) -> tuple[int, str]:
    args = ["compress", str(recipe), "--resume"]
    for assignment in overrides:
        args += ["--set", assignment]
    result = runner.invoke(app, args)
    return result.exit_code, result.stderr


def _state(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_torch_thread_setting_is_applied_and_recorded(base: tuple[Path, Report]) -> None:
    _, report = base
    assert report.environment.threads["torch"] == 1  # set for the run, from 2 before it
    assert torch.get_num_threads() == 2  # and restored after it
    assert "torch threads 1" in (Path(report.run_dir) / "report.md").read_text()
    manifest = json.loads((Path(report.run_dir) / "manifest.json").read_text())
    assert manifest["environment"]["threads"]["torch"] == 1


def test_resume_after_recipe_changes_reuses_what_did_not_change(base: tuple[Path, Report]) -> None:
    recipe, report = base
    run = Path(report.run_dir)
    train = _state(run / "01-train" / "stage.json")
    reused = ("00-load] already finished", "01-train] already finished")

    # a quantize tolerance: nothing reruns, the stored comparison is judged again; fail mode stops in one line
    code, err = _resume(recipe, "stages.0.parity.min_cosine=0.99999999")
    assert code == 2 and all(r in err for r in reused) and "02-quantize] already finished" in err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "min cosine" in error and "stages[0].parity" in error and "--resume" in error
    code, err = _resume(recipe, "stages.0.parity.min_cosine=0.99999999", "stages.0.parity.mode=warn")
    assert code == 0 and "parity re-judged: int8-ort-cpu" in err and "04-validate] already finished" in err
    quantize = json.loads((run / "02-quantize" / "stage.json").read_text())
    assert quantize["metrics"]["parity"][0]["mode"] == "warn" and not quantize["metrics"]["parity"][0]["passed"]
    assert any(w.startswith("parity (warn-only): int8-ort-cpu") for w in quantize["warnings"])

    # validate.runs: only validation reruns; its old folder is moved aside
    code, err = _resume(recipe, "validate.runs=4")
    assert code == 0 and "03-export-onnx] already finished" in err and "[04-validate] validate" in err
    assert "04-validate and every later stage run again (validate.runs changed (3 -> 4))" in err
    assert list(run.glob("superseded/*/04-validate/stage.json"))

    # export.parity.samples: the quantize stage compares on those images too, so it reruns with export
    code, err = _resume(recipe, "export.parity.samples=40")
    assert code == 0 and all(r in err for r in reused) and "[02-quantize] quantize" in err
    assert "export.parity.samples changed (32 -> 40)" in err and "[03-export-onnx] export-onnx" in err
    assert json.loads((run / "03-export-onnx" / "stage.json").read_text())["metrics"]["parity"][0]["samples"] == 40
    assert _state(run / "01-train" / "stage.json") == train  # never retrained


def test_resume_with_another_model_is_refused_in_one_line(base: tuple[Path, Report]) -> None:
    recipe, _ = base
    code, err = _resume(recipe, "model.arch=resnet20")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "model.arch changed" in lines[0] and "start a new run" in lines[0]
