"""What cannot work for a family is refused before any work: one line naming the stage key and why, exit 2, no run
folder claims success (ShuffleNetV2's channel shuffle in Torch-Pruning; a model with two outputs in prune)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from tests.conftest import write_recipe

PRUNE = [{"type": "prune", "target_macs": 0.5}, {"type": "quantize"}]


def refused(tmp_path: Path, arch: str) -> str:
    """The single stderr line of ``edgecv compress`` on a prune+quantize recipe for ``arch`` (exit status 2)."""
    path = write_recipe(tmp_path, model={"arch": arch}, stages=PRUNE, data={"digits_size": 32})
    result = CliRunner().invoke(app, ["compress", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert not list((tmp_path / "runs").rglob("report.json"))
    for manifest in (tmp_path / "runs").rglob("manifest.json"):
        assert json.loads(manifest.read_text())["status"] != "complete"
    return lines[0]


@pytest.mark.parametrize("arch", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_shufflenet_prune_is_refused_naming_the_channel_shuffle(tmp_path: Path, arch: str) -> None:
    line = refused(tmp_path, arch)
    assert "key 'stages[0]'" in line and f"{arch} cannot be channel-pruned" in line
    assert "channel shuffle" in line and "remove the prune stage" in line and "ZeroDivisionError" not in line


def test_a_two_output_model_is_refused_by_prune_before_training(tmp_path: Path) -> None:
    line = refused(tmp_path, "tests.families.user_models:two_heads")
    assert "key 'stages[0]'" in line and "returns 2 outputs" in line and "return only the logits" in line
    assert not list((tmp_path / "runs").rglob("01-train"))  # refused in preflight, before any training
