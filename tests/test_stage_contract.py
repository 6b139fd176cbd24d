"""The stage contract: stages register themselves, preflight checks every stage (and the formats between them)
before any run folder exists, and an exception escaping a stage is one line naming the stage and the run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecv.cli import app
from edgecv.stages.contract import ANY_FORMAT, registered
from tests.conftest import REPO, write_recipe

runner = CliRunner()


def _refused(recipe: Path, *expected: str) -> str:
    """``edgecv validate`` and ``edgecv compress`` both refuse in one line, exit 2, and write no run folder."""
    for verb in ("validate", "compress"):
        result = runner.invoke(app, [verb, str(recipe)])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2, (verb, result.stdout, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        for part in expected:
            assert part in lines[0], lines[0]
        assert not (recipe.parent / "runs").exists(), f"{verb} left a run folder"
    return lines[0]


def test_every_stage_declares_its_contract() -> None:
    stages = registered()
    assert {"load", "train", "finetune", "prune", "distill", "quantize", "export-onnx", "validate", "deploy"} <= set(
        stages
    )
    for kind, cls in stages.items():
        assert cls.kind == kind
        assert cls.accepts and cls.accepts <= ANY_FORMAT
        assert cls.produces is None or cls.produces in ANY_FORMAT
    with_params = {kind for kind, cls in stages.items() if cls.Params is not None}
    assert with_params == {"finetune", "prune", "distill", "quantize"}


def test_a_recipe_with_a_stage_after_one_that_leaves_onnx_is_refused(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, stages=[{"type": "quantize"}, {"type": "finetune", "epochs": 1}])
    line = _refused(recipe, "stages[1]", "finetune", "quantize before it", "onnx")
    assert "put finetune before quantize" in line


def test_fp16_for_devices_that_do_not_run_it_is_refused_before_training(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, stages=[{"type": "quantize", "precision": "fp16"}])
    line = _refused(recipe)
    assert all(part in line for part in ("stages[0].precision", "host-cpu", "fp16")), line


def test_2_4_sparsity_without_a_device_that_runs_it_is_refused(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, stages=[{"type": "prune", "ratio": 0.3, "sparsity_2_4": True}])
    assert "stages[0].sparsity_2_4" in _refused(recipe)


def test_int8_for_a_device_whose_opset_is_too_old_is_refused(tmp_path: Path) -> None:
    profile = (REPO / "devices" / "host-cpu.yaml").read_text()
    profile = profile.replace("name: host-cpu", "name: old-runtime").replace("max_onnx_opset: 21", "max_onnx_opset: 12")
    device = tmp_path / "old-runtime.yaml"
    device.write_text(profile)
    recipe = write_recipe(tmp_path, stages=[{"type": "quantize"}], validate={"devices": [str(device)]})
    line = _refused(recipe)
    assert "stages[0].precision" in line and "opset" in line, line


def test_an_export_opset_a_device_cannot_parse_is_refused(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, export={"opset": 17}, validate={"devices": ["jetson-nano-4gb"]})
    line = _refused(recipe)
    assert all(part in line for part in ("export.opset", "jetson-nano-4gb", "13")), line


def test_a_bundle_for_a_device_without_tensorrt_is_refused(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, export={"bundles": ["host-cpu"]})
    line = _refused(recipe)
    assert "export.bundles[0]" in line and "TensorRT" in line, line


def test_an_exception_inside_a_stage_is_one_line_with_the_traceback_in_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgecv.stages.validate import ValidateStage

    def broken(self: object, ctx: object, current: object, folder: Path) -> None:
        raise RuntimeError("the validator broke\nsecond line")

    monkeypatch.setattr(ValidateStage, "run", broken)
    recipe = write_recipe(tmp_path)
    result = runner.invoke(app, ["compress", str(recipe)])
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # the rest is progress
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == lines[0]
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    assert "stage 03-validate (validate) failed: RuntimeError: the validator broke" in lines[0]
    assert str(run) in lines[0] and "--resume" in lines[0] and "Traceback" not in result.stderr
    log = (run / "error.log").read_text()
    assert "Traceback" in log and "the validator broke" in log and "second line" in log
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "03-validate" in manifest["error"]
    assert not (run / "report.json").exists()


def test_adding_a_stage_is_adding_one_file(tmp_path: Path) -> None:
    """A stage file dropped into the stages package is found by the registry and usable in a recipe."""
    extra = tmp_path / "stages_extra"
    extra.mkdir()
    (extra / "noop.py").write_text(textwrap.dedent('''
        from typing import Literal
        from edgecv.stages.contract import Stage, register_stage
        from edgecv.stages.params import StrictModel

        class NoopParams(StrictModel):
            type: Literal["noop"]
            note: str = ""

        @register_stage
        class NoopStage(Stage):
            kind, Params, produces = "noop", NoopParams, "torch"

            def run(self, ctx, current, folder):
                raise NotImplementedError
    '''))
    script = textwrap.dedent(f'''
        import edgecv.stages
        edgecv.stages.__path__.append({str(extra)!r})
        from edgecv.recipe import parse_recipe
        from pathlib import Path
        recipe = parse_recipe({{"name": "x", "model": {{"arch": "small_cnn"}},
                               "stages": [{{"type": "noop", "note": "hi"}}]}}, "r.yaml", Path("."))
        print(type(recipe.stages[0]).__name__, recipe.stages[0].note)
    ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["NoopParams", "hi"]


def test_recipes_validate_without_importing_torch() -> None:
    script = "import sys, edgecv.recipe; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_a_full_disk_is_one_line_and_a_failed_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import edgecv.pipeline as pipeline

    real = pipeline.atomic_write_json

    def full_disk(path: Path, data: object) -> None:
        if Path(path).parent.name == "01-train":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(pipeline, "atomic_write_json", full_disk)
    result = runner.invoke(app, ["compress", str(write_recipe(tmp_path))])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "no space left on device" in errors[0] and "--resume" in errors[0]
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "no space left" in manifest["error"]
    assert not (run / "report.json").exists() and not (run / "01-train" / "stage.json").exists()
