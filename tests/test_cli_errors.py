"""Bad input at the command line: one clear line naming file, key and fix; exit status 2; no run claims success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edgecv.cli import app
from tests.conftest import write_recipe

runner = CliRunner()


def _assert_clean_failure(args: list[str], runs: Path, *expected: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    for manifest in runs.rglob("manifest.json"):
        assert json.loads(manifest.read_text())["status"] != "complete"
    assert not list(runs.rglob("report.json"))
    return lines[0]


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodel:\n  arch: [small_cnn\n")
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", "broken.yaml", "malformed YAML", "line")


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, validate={"devices": ["host-cpu"], "batch_size": [1]})
    _assert_clean_failure(
        ["compress", str(path)], tmp_path / "runs", str(path), "validate.batch_size", "did you mean 'batch_sizes'"
    )


def test_wrong_type(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, train={"epochs": [1, 2]})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "train.epochs")


def test_missing_checkpoint(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, model={"arch": "small_cnn", "checkpoint": "nowhere.pt"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "model.checkpoint", "nowhere.pt")


def test_corrupt_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 this is not a torch file")
    path = write_recipe(tmp_path, model={"arch": "small_cnn", "checkpoint": "corrupt.pt"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "model.checkpoint", "corrupt.pt")


def test_checkpoint_that_does_not_fit(tmp_path: Path) -> None:
    from edgecv.models import build_model

    torch.save(build_model("resnet20", 10).state_dict(), tmp_path / "resnet20.pt")
    path = write_recipe(tmp_path, model={"arch": "small_cnn", "checkpoint": "resnet20.pt"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "model.checkpoint", "model.arch")


def test_missing_data_folder(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, data={"val": "no-such-folder"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "data.val", "no-such-folder")


def test_empty_data_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = write_recipe(tmp_path, data={"train": "empty"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "data.train", "ImageFolder")


def test_unknown_device(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, validate={"devices": ["jetson-orin-nano-8g"]})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "validate.devices[0]", "did you mean")


def test_unknown_model_name(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, model={"arch": "resnet2O"})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "model.arch", "did you mean")


def test_prune_settings_the_model_cannot_meet_fail_before_training(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, stages=[{"type": "prune", "ratio": 0.3, "remove_blocks": 2}])
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "stages[0].remove_blocks",
                          "0 removable residual blocks", "lower it")
    path = write_recipe(tmp_path, stages=[{"type": "prune", "ratio": 0.3, "ignored_layers": ["classifer"]}])
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "stages[0].ignored_layers",
                          "classifier")


def test_missing_recipe_file(tmp_path: Path) -> None:
    _assert_clean_failure(["compress", str(tmp_path / "absent.yaml")], tmp_path / "runs", "absent.yaml", "not found")


@pytest.mark.parametrize("command", [["schema", "nonsense"], ["devices", "show", "jetson-nanoo-4gb"]])
def test_other_verbs_fail_cleanly(tmp_path: Path, command: list[str]) -> None:
    _assert_clean_failure(command, tmp_path / "runs")
