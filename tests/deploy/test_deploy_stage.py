"""Bundles as an export target in recipes (``export.bundles``), and the ResNet20 recipe's run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgecv.api import compress, plan_recipe
from edgecv.errors import RecipeError
from edgecv.export.bundle import verify_bundle
from tests.conftest import REPO, write_recipe


def test_recipe_bundles_run_a_deploy_stage_after_validate(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, export={"bundles": ["jetson-orin-nano-8gb"], "bundle_images": 30})
    report = compress(recipe)
    assert [s.kind for s in report.stages][-2:] == ["validate", "deploy"]
    bundles = [a for a in report.artifacts if a.format == "bundle"]
    assert len(bundles) == 1 and bundles[0].targets == ["jetson-orin-nano-8gb"]
    tarball = Path(bundles[0].path)
    assert tarball.parent.name == "04-deploy" and verify_bundle(tarball).ok
    manifest = json.loads((tarball.parent / "jetson-orin-nano-8gb-trained-onnx" / "manifest.json").read_text())
    assert manifest["val_images"] == 30 and manifest["accuracy"]["edgecv_validation"]["top1"] is not None


def test_bundles_for_a_non_tensorrt_device_fail_before_any_work(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, export={"bundles": ["host-cpu"]})
    with pytest.raises(RecipeError, match=r"export\.bundles\[0\]': 'host-cpu' deploys with onnxruntime"):
        plan_recipe(recipe)


@pytest.mark.slow
def test_cifar10_resnet20_run_bundles_for_tensorrt_8_5_and_10_3(shared_dir: Path, tmp_path: Path) -> None:
    """The ResNet20 recipe (pretrained, FP32; 300 val images to stay quick), bundled for Xavier and Orin Nano."""
    overrides = [
        f"output={tmp_path / 'runs'}",
        "data.max_val_samples=300",
        "validate.batch_sizes=[1]",
        "validate.runs=5",
        "validate.devices=[host-cpu,jetson-agx-xavier,jetson-orin-nano-8gb]",
    ]
    report = compress(REPO / "recipes" / "cifar10-resnet20.yaml", overrides)
    run_dir = Path(report.run_dir)
    from edgecv.export.bundle import deploy_run

    for device, expected in (
        ("jetson-agx-xavier", "--memPoolSize=workspace:1024"),
        ("jetson-orin-nano-8gb", "--memPoolSize=workspace:1024M"),
    ):
        result = deploy_run(run_dir, device)
        assert verify_bundle(result.tarball).ok
        assert expected in (result.folder / "build_engine.sh").read_text().split()
        done = subprocess.run(
            [
                sys.executable,
                "run_bundle.py",
                "--backend",
                "onnxruntime",
                "--runs",
                "3",
                "--warmup",
                "1",
                "--no-device-state",
                "--batch-sizes",
                "1,8",
            ],
            cwd=result.folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        results = json.loads((result.folder / "results.json").read_text())
        edgecv = result.manifest["accuracy"]["edgecv_on_bundle_images"]
        assert results["accuracy"]["top1"] == edgecv["top1"] and edgecv["samples"] == 200
        assert results["accuracy"]["predictions"] == edgecv["predictions"]
        assert edgecv["top1"] > 70  # the pretrained ResNet20 (about 92% on CIFAR-10)
