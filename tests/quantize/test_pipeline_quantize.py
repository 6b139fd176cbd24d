"""A tiny recipe with ``stages: [{type: quantize}]`` runs end to end, validates the INT8 artifacts, and deploys the
INT8 one (not the FP32 export that comes after it in the run) by default."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from edgecv.api import compress
from edgecv.export.bundle import deploy_run
from tests.conftest import write_recipe


def _qdq_nodes(path: Path) -> int:
    return sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in onnx.load(path).graph.node)


def test_pipeline_with_a_quantize_stage_reports_int8_validations(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path, stages=[{"type": "quantize"}], data={"calibration_size": 32},
        train={"epochs": 3, "optimizer": "adamw", "lr": 0.003, "batch_size": 16},
        export={"parity": {"samples": 64}, "bundles": ["jetson-orin-nano-8gb"], "bundle_images": 16},
        validate={"devices": ["host-cpu", "jetson-orin-nano-8gb"], "batch_sizes": [1], "warmup": 1, "runs": 3},
    )
    report = compress(path)
    assert report.status == "complete"
    stage = next(s for s in report.stages if s.kind == "quantize")
    assert [a.name for a in stage.outputs] == ["int8-ort-cpu", "int8-tensorrt"]
    pairs = {(v.artifact, v.device): v for v in report.validations}
    cpu = pairs[("int8-ort-cpu", "host-cpu")]
    assert cpu.precision == "int8" and cpu.latency_source == "measured" and cpu.metrics["top1"] > 0
    assert ("int8-ort-cpu", "jetson-orin-nano-8gb") not in pairs  # each artifact serves its own devices
    assert pairs[("int8-tensorrt", "jetson-orin-nano-8gb")].precision == "int8"
    assert ("int8-tensorrt", "host-cpu") not in pairs
    fp32, int8 = pairs[("trained-onnx", "host-cpu")], cpu
    assert fp32.metrics["top1"] > 50 and abs(int8.metrics["top1"] - fp32.metrics["top1"]) <= 5.0
    quantized_parity = [p for p in report.parity if "fake-quantized" in p.reference]
    assert len(quantized_parity) == 2 and all(p.passed and p.min_cosine >= 0.99 for p in quantized_parity)
    saved = json.loads((Path(report.run_dir) / "report.json").read_text())
    assert any(v["precision"] == "int8" for v in saved["validations"])

    # the default bundle is the most compressed artifact made for the device, from the deploy stage and the CLI
    deploy_stage = next(s for s in report.stages if s.kind == "deploy")
    assert deploy_stage.metrics["bundles"][0]["artifact"] == "int8-tensorrt"
    bundle = deploy_run(Path(report.run_dir), "jetson-orin-nano-8gb", images=8, out=tmp_path / "deploy")
    manifest = bundle.manifest
    assert manifest["artifact"] == "int8-tensorrt" and manifest["precision"] == "int8"
    assert manifest["artifact_precision"] == "int8" and "most compressed" in manifest["why"]
    assert "trained-onnx (fp32)" in manifest["why"]  # the alternative is named, with how to choose it
    assert _qdq_nodes(bundle.folder / "model.onnx") > 0
    assert "int8-tensorrt` (int8 ONNX, engine int8)" in (bundle.folder / "README.md").read_text()
