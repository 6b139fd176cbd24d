"""FP16 artifacts for the devices that run FP16; QAT with distillation and an ignored scope."""

from __future__ import annotations

import onnx

from edgecv.quantize.onnx_graph import layer_counts
from tests.quantize.conftest import Tiny


def test_fp16_keeps_an_fp32_onnx_for_fp16_devices_and_emulates_fp16_accuracy(tiny: Tiny) -> None:
    result = tiny.run("fp16", devices=("host-cpu", "jetson-orin-nano-8gb"), precision="fp16")
    (artifact,) = result.outputs
    assert artifact.precision == "fp16" and artifact.targets == ["jetson-orin-nano-8gb"]
    graph = onnx.load(artifact.path).graph
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in graph.initializer if len(t.dims) > 1)
    m = result.metrics
    assert abs(m["fp16_emulated_top1"] - m["fp32_top1"]) <= 2.0 and m["fp32_top1"] > 50
    emulated = onnx.load(m["emulated_onnx"]).graph
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in emulated.initializer)
    assert "emulated" in m["fp16_emulation"] and any("host-cpu" in w for w in result.warnings)


def test_qat_with_distillation_trains_through_the_quantizers_and_honours_the_ignored_scope(tiny: Tiny) -> None:
    result = tiny.run(
        "qat", method="qat", ignored_scope=["head"],
        qat={"epochs": 1, "lr": 0.0005, "max_batches_per_epoch": 4, "batch_size": 16},
        distill={"temperature": 2.0, "alpha": 0.5},
    )
    scheme = result.metrics["schemes"][0]
    assert scheme["qat"]["distill"] and len(scheme["qat"]["history"]) == 1
    assert scheme["qat"]["best_score"] > 50
    start = scheme["qat"]["start_score"]  # the PTQ model competed as epoch 0 (start_competes' QAT default)
    assert start is not None and scheme["qat"]["best_score"] >= start
    assert scheme["qat"]["best_score"] == max(start, scheme["qat"]["history"][0]["selection"])
    assert result.metrics["ignored_scope"] == ["head"] and scheme["float_layers"] == ["head"]
    (artifact,) = result.outputs
    assert artifact.precision == "mixed" and scheme["parity"]["passed"]
    counts = layer_counts(onnx.load(artifact.path))
    assert counts["quantized"] == 6 and counts["total"] == 7
