"""edgecv.input_checks: OSError descriptions, the output-folder probe, refused and warned-about values."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from edgecv.errors import EdgecvError, RecipeError
from edgecv.input_checks import check_output_writable, check_values, describe_os_error
from edgecv.recipe import load_recipe
from tests.conftest import write_recipe


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, "no space left on device while writing /r/01-train/last.pt; free space or set output: "
                       "elsewhere, then --resume"),
        (errno.EDQUOT, "disk quota exceeded while writing /r/01-train/last.pt"),
        (errno.EROFS, "/r/01-train/last.pt is on a read-only file system; set output: to a writable folder"),
        (errno.EACCES, "permission denied while writing /r/01-train/last.pt; fix the folder's permissions"),
        (errno.EIO, "Input/output error while writing /r/01-train/last.pt; fix that or set output: elsewhere"),
    ],
)
def test_describe_os_error_is_one_line_with_the_fix(code: int, expected: str) -> None:
    exc = OSError(code, os.strerror(code), "/r/01-train/last.pt")
    error = describe_os_error(exc)
    assert isinstance(error, EdgecvError) and error.exit_code == 2
    assert expected in str(error) and "\n" not in str(error)
    assert str(describe_os_error(exc, Path("/elsewhere"))).count("/elsewhere") == 1


def test_output_probe_leaves_nothing_and_refuses_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_recipe(write_recipe(tmp_path, output="deep/er/runs"))
    check_output_writable(recipe)
    assert not (tmp_path / "deep").exists()
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    check_output_writable(load_recipe(write_recipe(tmp_path)))
    assert (tmp_path / "runs" / "tiny").is_dir() and not list((tmp_path / "runs" / "tiny").iterdir())

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(RecipeError, match=r"key 'output': no space left on device while creating the run folder"):
        check_output_writable(recipe)
    assert not (tmp_path / "deep").exists()


def test_values_below_a_model_minimum_are_refused_and_absurd_ones_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgecv import models

    recipe = load_recipe(write_recipe(tmp_path, model={"arch": "small_cnn", "input_size": 2000},
                                      train={"epochs": 2000}))
    notes = check_values(recipe)
    assert [n.split(" is ")[0] for n in notes] == ["train.epochs", "model.input_size"]
    entry = models.model_entry("small_cnn")

    class WithMinimum:
        input_size = entry.input_size
        min_input_size = 32

    monkeypatch.setattr(models, "model_entry", lambda name: WithMinimum())
    small = load_recipe(write_recipe(tmp_path, model={"arch": "small_cnn", "input_size": 16}))
    with pytest.raises(RecipeError, match=r"key 'model.input_size': small_cnn needs an input of at least 32x32"):
        check_values(small)
