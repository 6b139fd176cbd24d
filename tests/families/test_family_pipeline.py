"""Families through the whole pipeline (``edgecv.api.compress``): prune to half the MACs, distil, INT8 in both
schemes (host-cpu: onnxruntime-cpu; Jetson Orin: tensorrt), FP16 for the Orin, export and validation, with the
stages' own parity checks, on 32x32 digits.

The families here are the ones whose fixes this covers end to end: a user CNN with SE, concat (shared quantizer
scales), depthwise convs and SiLU, and torchvision's VisionTransformer class (LayerNorm in NNCF, attention in
Torch-Pruning and in the MACs count, FP16 in ONNX Runtime) at 2 layers; tests/families/test_zoo_families.py runs
every zoo family's stages one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgecv.api import compress
from edgecv.quantize.standard_ops import nonstandard_nodes
from edgecv.runtime import OrtRunner
from tests.conftest import write_recipe

DEVICES = ["host-cpu", "jetson-orin-nano-8gb"]
FAMILIES = {
    "user-se-concat-dw-silu": "tests.families.user_models:factory",
    "vit": "tests.families.user_models:tiny_vit",
}


def family_recipe(tmp_path: Path, arch: str) -> Path:
    """Train 1 short epoch, prune to 50% MACs, distil 3 batches, INT8 (both schemes) and FP16, on 32x32 digits."""
    return write_recipe(
        tmp_path, model={"arch": arch},
        data={"digits_size": 32, "max_train_samples": 256, "max_val_samples": 64, "calibration_size": 32},
        train={"epochs": 1, "lr": 0.003, "optimizer": "adamw", "batch_size": 32, "max_batches_per_epoch": 8},
        stages=[
            {"type": "prune", "target_macs": 0.5, "recalibrate_bn": 2},
            {"type": "distill", "epochs": 1, "lr": 0.001, "max_batches_per_epoch": 3},
            {"type": "quantize", "precision": "int8", "calibration_size": 32},
            {"type": "quantize", "precision": "fp16"},
        ],
        export={"parity": {"samples": 64}},  # all 64 val images: one near-tie flip is 1.6 points, under 2
        validate={"devices": DEVICES, "batch_sizes": [1], "warmup": 1, "runs": 2},
    )


@pytest.fixture(scope="module", params=list(FAMILIES), ids=list(FAMILIES))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return compress(family_recipe(tmp_path_factory.mktemp(request.param), FAMILIES[request.param]))


def stage(report: Any, kind: str, index: int = 0) -> Any:
    return [s for s in report.stages if s.kind == kind][index]


@pytest.mark.slow
def test_prune_reaches_half_the_macs_and_distill_runs(report: Any) -> None:
    assert report.status == "complete"
    pruned = stage(report, "prune")
    assert 0.3 <= pruned.metrics["macs_fraction"] <= 0.5 and not pruned.warnings
    assert pruned.outputs[0].macs < stage(report, "load").outputs[0].macs * 0.5 + 1
    assert stage(report, "distill").outputs[0].params == pruned.outputs[0].params


@pytest.mark.slow
def test_int8_per_scheme_is_standard_qdq_that_onnx_runtime_runs_like_the_fake_quantized_model(report: Any) -> None:
    int8 = stage(report, "quantize", 0)
    assert [(a.name, a.targets) for a in int8.outputs] == [("int8-ort-cpu", ["host-cpu"]),
                                                           ("int8-tensorrt", ["jetson-orin-nano-8gb"])]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    for artifact, scheme in zip(int8.outputs, int8.metrics["schemes"], strict=True):
        graph = onnx.load(artifact.path)
        assert nonstandard_nodes(graph) == []
        assert scheme["qdq_nodes"] >= 8 and scheme["parity"]["passed"], scheme["parity"]
        assert scheme["parity"]["top1_agreement"] >= 0.9
        with OrtRunner(artifact.path, threads=1) as runner:
            assert np.isfinite(runner.infer(x)).all()
    assert int8.metrics["schemes"][1]["tensorrt_check"]["jetson-orin-nano-8gb"]["ok"]


@pytest.mark.slow
def test_fp16_for_the_orin_keeps_the_fp32_accuracy_and_everything_validates(report: Any) -> None:
    fp16 = stage(report, "quantize", 1)
    assert [(a.name, a.precision, a.targets) for a in fp16.outputs] == [("fp16", "fp16", ["jetson-orin-nano-8gb"])]
    assert abs(fp16.metrics["fp16_emulated_top1"] - fp16.metrics["fp32_top1"]) <= 100 / 64 + 1e-6  # <= 1 image
    pairs = {(v.artifact, v.device) for v in report.validations}
    assert {("int8-ort-cpu", "host-cpu"), ("int8-tensorrt", "jetson-orin-nano-8gb"),
            ("fp16", "jetson-orin-nano-8gb")} <= pairs
    assert all(p.passed for p in report.parity)
