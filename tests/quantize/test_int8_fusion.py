"""The CPU-scheme INT8 ONNX of a MobileNetV3-like block fuses: ONNX Runtime runs its convs as QLinearConv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgecv.artifacts import InputSpec
from edgecv.quantize.nncf_ptq import Calibration
from edgecv.quantize.onnx_export import quantize_to_onnx
from edgecv.quantize.onnx_graph import ort_fusion


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class TinyMobileNetV3(nn.Module):
    """Stem conv-BN-hard-swish, an inverted residual (expand, depthwise, SE with hard-sigmoid, project), head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 16, 3, 2), nn.Hardswish())
        self.expand = nn.Sequential(*conv_bn(16, 32), nn.Hardswish())
        self.depthwise = nn.Sequential(*conv_bn(32, 32, 3, groups=32), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 8, 1), nn.ReLU(), nn.Conv2d(8, 32, 1),
                                nn.Hardsigmoid())
        self.project = nn.Sequential(*conv_bn(32, 16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.depthwise(self.expand(x))
        x = x + self.project(y * self.se(y))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor, nn.Module]:
    import nncf

    torch.manual_seed(0)
    model = TinyMobileNetV3()
    images = torch.rand(96, 3, 32, 32) * 2 - 1
    with torch.no_grad():  # realistic BatchNorm statistics: train-mode passes, then eval
        model.train()
        model(images)
    model.eval()
    batches = list(images.split(32))
    calibration = Calibration(nncf.Dataset(batches), len(batches), len(images))
    path = tmp_path_factory.mktemp("fusion") / "int8.onnx"
    quantize_to_onnx(model, InputSpec(shape=(3, 32, 32)), calibration, "onnxruntime-cpu", path)
    return path, images, model


Quantized = tuple[Path, torch.Tensor, nn.Module]


def test_convs_before_hard_swish_and_depthwise_run_as_qlinearconv(quantized: Quantized) -> None:
    fusion = ort_fusion(quantized[0])
    # stem, expand, depthwise (all before hard-swish) and project fuse; NNCF keeps SE's two small convs float
    assert fusion["convs"] == 6
    assert fusion.get("QLinearConv", 0) >= 4, fusion["ops"]
    assert fusion["float_convs"] <= 2
    assert fusion.get("QLinearAdd", 0) == 1 and fusion.get("QLinearMul", 0) == 1 and fusion.get("QGemm", 0) == 1


def test_fused_int8_onnx_matches_fp32_predictions(quantized: Quantized) -> None:
    from edgecv.runtime import OrtRunner

    path, images, model = quantized
    with OrtRunner(path, threads=1) as runner:
        int8 = runner.infer(images.numpy())
    with torch.no_grad():
        fp32 = model(images).numpy()
    cosine = (int8 * fp32).sum(1) / (np.linalg.norm(int8, axis=1) * np.linalg.norm(fp32, axis=1))
    assert cosine.min() > 0.99, cosine.min()
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.95
