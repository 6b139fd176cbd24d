"""The FastestDet author's own ONNX export (../shared) given as model.onnx: the same mAP as the torch path.

Skips cleanly without ../shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgecv.api import compress
from edgecv.recipe import load_recipe
from tests.deploy.bundle_runner import QUICK, run_bundle

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "models" / "fastestdet" / "fastestdet-coco.onnx").is_file()
                                or not (SHARED / "data" / "coco128").is_dir(), reason="../shared is not here")
SLICE = ["stages=[]", "data.max_val_samples=16", "export.parity.samples=4", "validate.devices=[host-cpu]",
         "validate.runs=2", "validate.warmup=1", "report.formats=[json]"]


def test_author_onnx_reproduces_the_torch_path_map_and_deploys(tmp_path: Path) -> None:
    bundled = ["export.bundles=[jetson-orin-nano-8gb]", "export.bundle_images=16"]
    from_onnx = compress(load_recipe(REPO / "recipes" / "coco128-fastestdet-onnx.yaml",
                                     [*SLICE, *bundled, f"output={tmp_path}"]))
    from_torch = compress(load_recipe(REPO / "recipes" / "coco128-fastestdet.yaml", [*SLICE, f"output={tmp_path}"]))
    onnx_row = next(v for v in from_onnx.validations if v.artifact == "original")
    torch_row = next(v for v in from_torch.validations if v.artifact == "original-onnx")
    assert onnx_row.metrics["map"] > 10.0
    assert abs(onnx_row.metrics["map"] - torch_row.metrics["map"]) <= 0.1
    assert abs(onnx_row.metrics["map50"] - torch_row.metrics["map50"]) <= 0.1
    load = next(s for s in from_onnx.stages if s.kind == "load-onnx")
    assert load.metrics["source_opset"] == 11 and load.metrics["task_outputs"] == ["boxes", "scores"]
    assert load.metrics["conversion_max_abs_diff"] < 1e-4  # opset 11 -> 17 and onnxslim changed nothing

    (bundle,) = [p for p in Path(from_onnx.run_dir).glob("*-deploy/*") if p.is_dir()]
    runner = run_bundle(bundle, *QUICK)["accuracy"]
    edgecv = json.loads((bundle / "manifest.json").read_text())["accuracy"]["edgecv_on_bundle_images"]
    assert runner["samples"] == edgecv["samples"] == 16
    assert abs(runner["map"] - edgecv["map"]) <= 1e-6 and runner["map"] > 5.0
