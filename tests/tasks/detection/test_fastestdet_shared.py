"""The shared FastestDet (a user's own COCO detector) on a slice of COCO128, through the shipped recipe.

Skips cleanly without ../shared. Checks what the recipe promises: ONNX Runtime reproduces torch's mAP, and INT8 in
the CPU scheme stays close to FP32 on the same images with the box decoding in float.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecv.api import compress
from edgecv.recipe import load_recipe

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "recipes" / "coco128-fastestdet.yaml"
SHARED = REPO.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "models" / "fastestdet" / "fastestdet-coco.pth").is_file()
                                or not (SHARED / "data" / "coco128").is_dir(), reason="../shared is not here")


def test_fastestdet_onnx_and_int8_on_coco128_slice(tmp_path: Path) -> None:
    recipe = load_recipe(RECIPE, [
        "stages=[{type: quantize, calibration_size: 16}]", "data.max_val_samples=24", "export.parity.samples=8",
        "validate.devices=[host-cpu]", "validate.runs=2", "validate.warmup=1", "report.formats=[json]",
        f"output={tmp_path}",
    ])
    report = compress(recipe)
    rows = {v.artifact: v for v in report.validations}
    fp32, int8 = rows["original-onnx"], rows["int8-ort-cpu"]
    assert fp32.metrics["map"] > 10.0  # a real detector on real images (19.1 on all 128 per shared/data/README)
    assert abs(fp32.metrics["map"] - fp32.metrics["torch_map"]) <= 0.1
    # plain PTQ (16 calibration images, no accuracy control) on 24 images: a drop measured on this few images swings
    # by +-1.5 points or more (the paired bootstrap of the selection-noise check gives +-1.1 on 55 images). Measured
    # here: 1.69 before the ReLU/Gather rewrites of the CPU scheme, 3.10 after, while on the 73 val images of the
    # recipe the same rewrites took the drop from 0.74 to 0.07; 4.07 with uint8 weights on this AVX2 CPU (-0.30 on
    # the 73 val images; saturated int8 weights lost 10). So this bounds collapse, not the last point.
    assert fp32.metrics["map"] - int8.metrics["map"] <= 5.0
    quantize = next(r for r in report.stages if r.kind == "quantize")
    scheme = quantize.metrics["schemes"][0]
    assert scheme["parity"]["passed"] and scheme["parity"]["top1_agreement"] >= 0.95, scheme["parity"]["reason"]
    assert quantize.metrics["batchnorm"]["folded"] > 50  # fx cannot trace it: pairs found in nn.Sequential
