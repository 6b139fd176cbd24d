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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nmodel: {arch: small_cnn}\n".encode("utf-16"), "UTF-16 encoded; save it as UTF-8"),
        (bytes(range(256)) * 4, "a binary file"),
        (b"name: x\nmodel:\n  arch: small_cnn\nname: y\n", "key 'name' is given twice (lines 1 and 4)"),
    ],
)
def test_undecodable_or_duplicated_recipe(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), message)


def test_absurd_values_are_refused(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, train={"epochs": 1_000_000_000})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "train.epochs", "10000")
    path = write_recipe(tmp_path, model={"arch": "small_cnn", "input_size": 1})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "model.input_size", "8")


def test_many_epochs_warn_on_validate(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write_recipe(tmp_path, train={"epochs": 5000}))])
    assert result.exit_code == 0, result.output
    assert "warning: train.epochs is 5000" in result.stderr
    assert not (tmp_path / "runs").exists()  # the writability probe leaves nothing behind


@pytest.mark.parametrize("where", ["file", "under-file", "name-is-file"])
def test_output_that_cannot_hold_runs(tmp_path: Path, where: str) -> None:
    (tmp_path / "taken").write_text("a file\n")
    output = {"file": "taken", "under-file": "taken/runs", "name-is-file": "out"}[where]
    if where == "name-is-file":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "tiny").write_text("a file\n")
    path = write_recipe(tmp_path, output=output)
    line = _assert_clean_failure(["compress", str(path)], tmp_path, str(path), "key 'output'", "not a folder")
    assert "is under the file" in line if where == "under-file" else "is a file" in line
    assert {p.name for p in tmp_path.iterdir()} <= {"recipe.yaml", "taken", "out"}
    assert not list(tmp_path.rglob("manifest.json"))


def test_read_only_output_is_refused_before_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    real = Path.write_bytes

    def read_only(self: Path, data: bytes) -> int:
        if self.name == ".edgecv-write-probe":
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    path = write_recipe(tmp_path)
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "key 'output'",
                          "read-only file system", "set output: to a writable folder")
    assert not (tmp_path / "runs").exists()


def test_corrupt_image_is_refused_before_the_run_folder_exists(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(tmp_path / "imgs" / name / f"{i}.png")
    good = (tmp_path / "imgs" / "dog" / "1.png").read_bytes()
    (tmp_path / "imgs" / "dog" / "1.png").write_bytes(good[: len(good) // 2])
    path = write_recipe(tmp_path, data={"train": "imgs", "max_train_samples": None, "max_val_samples": None})
    _assert_clean_failure(["compress", str(path)], tmp_path / "runs", str(path), "dog/1.png",
                          "not a readable image", "skip_bad_images")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("assignment", "key"),
    [("threads.torch=0", "threads.torch"), ("export.parity.mode=maybe", "export.parity.mode"),
     ("export.parity.min_margin=-1", "export.parity.min_margin")],
)
def test_bad_thread_and_parity_settings_name_the_key(tmp_path: Path, assignment: str, key: str) -> None:
    path = write_recipe(tmp_path)
    _assert_clean_failure(["compress", str(path), "--set", assignment], tmp_path / "runs", str(path), f"key '{key}'")
    assert not (tmp_path / "runs").exists()
