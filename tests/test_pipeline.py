"""End to end on a tiny recipe: stages, artifacts, report, resume after a kill, resume refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecv.api import compress
from edgecv.errors import RecipeError
from edgecv.recipe import load_recipe
from edgecv.report.build import load_report
from tests.conftest import REPO, write_recipe


def test_tiny_run_produces_a_complete_consistent_report(recipe_file: Path) -> None:
    report = compress(recipe_file)
    run = Path(report.run_dir)
    assert report.status == "complete"
    assert [s.stage for s in report.stages] == ["00-load", "01-train", "02-export-onnx", "03-validate"]
    assert (run / "report.md").is_file() and (run / "02-export-onnx" / "trained.onnx").is_file()
    assert load_report(run) == report
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["recipe_hash"] == report.recipe_hash
    assert {a["name"] for a in manifest["artifacts"]} == {"original", "trained", "trained-onnx"}
    assert all(len(a["sha256"]) == 64 for a in manifest["artifacts"])
    parity = report.parity[0]
    assert parity.passed and parity.max_abs_diff <= 1e-4
    (validation,) = report.validations
    assert validation.device == "host-cpu" and validation.latency_source == "measured"
    assert [r.batch for r in validation.latency] == [1, 4]
    assert all(r.p50_ms > 0 and r.p50_ms <= r.p99_ms for r in validation.latency)
    # the exported model is as accurate as the torch model it came from (same val images)
    assert validation.metrics["top1"] == pytest.approx(validation.metrics["torch_top1"], abs=1.0)
    assert sum(map(sum, validation.confusion)) == report.data["val_images"]
    onnx_artifact = report.artifacts[-1]
    assert onnx_artifact.format == "onnx" and onnx_artifact.parent == "trained" and onnx_artifact.macs > 0


def test_resume_refuses_changed_data_but_reruns_a_changed_training(recipe_file: Path) -> None:
    first = compress(recipe_file)
    with pytest.raises(RecipeError, match=r"another model or data \(data.max_train_samples changed"):
        compress(load_recipe(recipe_file, ["data.max_train_samples=200"]), resume=True)
    again = compress(load_recipe(recipe_file, ["train.epochs=2"]), resume=True)
    assert again.run_dir == first.run_dir and len(again.stages[1].metrics["history"]) == 2


def test_resume_without_a_run_is_an_error(recipe_file: Path) -> None:
    with pytest.raises(RecipeError, match="no earlier run"):
        compress(recipe_file, resume=True)


@pytest.mark.slow
def test_killed_during_training_resumes_to_a_complete_report(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path, data={"digits_size": 16, "max_train_samples": 400, "batch_size": 16}, train={"epochs": 12, "lr": 0.05}
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "edgecv", "compress", str(path)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "epoch 2/12" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert (run / "00-load" / "stage.json").is_file() and not (run / "01-train" / "stage.json").is_file()
    assert (run / "01-train" / "last.pt").is_file() and not (run / "report.json").exists()

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "00-load] already finished" in resumed.stderr
    assert "resuming training after epoch" in resumed.stderr
    report = load_report(run)
    assert report.status == "complete"
    history = report.stages[1].metrics["history"]
    assert [row["epoch"] for row in history] == list(range(1, 13))
