"""Segmentation compression: a user's ESPNet-like segmenter distilled (pixel KD), then INT8 in both schemes (standard
Q/DQ, pixel parity with mIoU) and FP16; the INT8 parity criteria failing on what matters for pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

from edgecv.api import compress
from edgecv.recipe import Recipe, load_recipe
from edgecv.stages.quantize import QuantParity
from edgecv.tasks.segmentation.parity import segmentation_parity
from tests.conftest import import_beside

HERE = Path(__file__).resolve().parent

RECIPE = f"""
name: user-segmenter
task: segmentation
model:
  arch: user_segmenters:TinyESP
  code_dir: {HERE}
  kwargs: {{classes: 11}}
  checkpoint: weights.pt
  input_size: [32, 48]
data: {{max_val_samples: 8, max_selection_samples: 4, max_train_samples: 16, calibration_size: 8}}
stages:
  - {{type: distill, epochs: 1, max_batches_per_epoch: 2, batch_size: 4, lr: 0.001}}
  - {{type: quantize, calibration_batch_size: 8}}
  - {{type: quantize, precision: fp16}}
export: {{parity: {{samples: 8}}}}
validate: {{devices: [host-cpu, jetson-orin-nano-8gb], batch_sizes: [1], runs: 2, warmup: 1}}
report: {{formats: [json]}}
"""


def _recipe(tmp_path: Path, *overrides: str) -> Recipe:
    """The recipe in ``tmp_path`` with the user's checkpoint beside it (seeded random weights; BatchNorm statistics
    from noise batches, PReLU slopes varied, so no layer is at its initial value)."""
    TinyESP = import_beside(HERE, "user_segmenters").TinyESP
    torch.manual_seed(0)
    net = TinyESP(11).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 32, 48) * 2 - 1)
        for m in nn_modules(net):
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(0.0, 0.5)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    return load_recipe(path, [*overrides, f"output={tmp_path / 'runs'}"])


def nn_modules(net: torch.nn.Module) -> list[torch.nn.Module]:
    return list(torch.nn.Module.modules(net))  # the model hides .modules(), as ESPNet does


def test_user_segmenter_distill_int8_both_schemes_fp16(tmp_path: Path) -> None:
    report = compress(_recipe(tmp_path))
    distill = next(r for r in report.stages if r.kind == "distill")  # pixel KD from the loaded model
    assert distill.metrics["metric"] == "miou" and distill.metrics["teacher"] is not None
    assert distill.metrics["history"] and distill.outputs[0].format == "torch"
    quantize, fp16 = [r for r in report.stages if r.kind == "quantize"]
    assert quantize.metrics["batchnorm"]["folded"] == 2  # fx traces through SegmentationNet; BN after cat stays
    schemes = {s["scheme"]: s for s in quantize.metrics["schemes"]}
    assert set(schemes) == {"onnxruntime-cpu", "tensorrt"}
    for scheme in schemes.values():
        parity = scheme["parity"]
        assert parity["passed"], parity["reason"]
        assert parity["confident_samples"] > 0.5 * 8 * 32 * 48  # judged on most pixels, not a handful
        assert parity["top1_diff"] is not None  # the mIoU difference on the compared images' label maps
        assert scheme["qdq_nodes"] > 0 and scheme["layers"]["quantized"] >= 6
    for artifact in (a for r in report.stages for a in r.outputs if a.name.startswith("int8")):
        graph = onnx.load(artifact.path).graph
        assert {n.domain for n in graph.node} <= {"", "ai.onnx"}  # standard Q/DQ, no OpenVINO FakeQuantize
    rows = {(v.artifact, v.device): v for v in report.validations}
    fp32 = rows[("original-onnx", "host-cpu")]
    assert len([c for c, v in fp32.per_class.items() if v.get("iou") is not None]) >= 3  # not one class everywhere
    cpu = rows[("int8-ort-cpu", "host-cpu")]
    assert abs(cpu.metrics["miou"] - fp32.metrics["miou"]) < 5.0 and ("int8-tensorrt", "jetson-orin-nano-8gb") in rows
    assert fp16.metrics["fp32_miou"] > 0 and abs(fp16.metrics["fp16_emulated_miou"] - fp16.metrics["fp32_miou"]) < 1.0
    assert fp16.metrics["parity"][0]["passed"] and ("fp16", "jetson-orin-nano-8gb") in rows


def _logits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 4-class 16x16 images: class = quadrant, a margin of 4 over the others; truth the same quadrants."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((2, 16, 16), np.int64)
    truth[:, :8, 8:], truth[:, 8:, :8], truth[:, 8:, 8:] = 1, 2, 3
    logits = rng.normal(0, 0.1, (2, 4, 16, 16)).astype(np.float32)
    np.put_along_axis(logits, truth[:, None], 4.0, axis=1)
    return logits, truth


def test_int8_parity_judges_pixels_and_miou() -> None:
    reference, truth = _logits()
    names = ("fake-quantized", "int8")
    noisy = reference + np.random.default_rng(1).normal(0, 0.2, reference.shape).astype(np.float32)
    ok = segmentation_parity({"logits": reference}, {"logits": noisy}, QuantParity(), names, list(truth))
    assert ok.passed and ok.confident_samples == 2 * 256, ok.reason
    shifted = np.roll(reference, 1, axis=1)  # a wrong channel order / scale: most pixels change class
    bad = segmentation_parity({"logits": reference}, {"logits": shifted}, QuantParity(), names, list(truth))
    assert not bad.passed and "min_top1_agreement" in bad.failed
    thin = reference.copy()  # 8 pixels of class 3 flip to class 0: 98.4% pixels agree but class 3 IoU drops
    thin[:, 0, 8:10, 8:10], thin[:, 3, 8:10, 8:10] = 9.0, 0.0
    small = segmentation_parity({"logits": reference}, {"logits": thin}, QuantParity(), names, list(truth))
    assert small.top1_agreement > 0.95 and "max_top1_diff" in small.failed and not small.passed


