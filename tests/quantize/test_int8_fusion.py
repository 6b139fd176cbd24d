"""The CPU-scheme INT8 ONNX of a MobileNetV3-like block fuses: ONNX Runtime runs its convs as QLinearConv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgecv.artifacts import InputSpec
from edgecv.quantize.onnx_graph import ort_fusion


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class TinyMobileNetV3(nn.Module):
    """Stem conv-BN-hard-swish, an inverted residual (expand, depthwise, SE with hard-sigmoid, project), head:
    MobileNetV3's ops (torchvision's block has the same structure)."""

    def __init__(self, width: int = 32, squeeze: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 16, 3, 2), nn.Hardswish())
        self.expand = nn.Sequential(*conv_bn(16, width), nn.Hardswish())
        self.depthwise = nn.Sequential(*conv_bn(width, width, 3, groups=width), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, squeeze, 1), nn.ReLU(),
                                nn.Conv2d(squeeze, width, 1), nn.Hardsigmoid())
        self.project = nn.Sequential(*conv_bn(width, 16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.depthwise(self.expand(x))
        x = x + self.project(y * self.se(y))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


Quantized = tuple[Path, torch.Tensor, nn.Module, nn.Module]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> Quantized:
    """The CPU-scheme INT8 ONNX (the quantize stage's calls), the images, the FP32 and the fake-quantized model."""
    from edgecv.quantize.nncf_ptq import strip_quantized
    from edgecv.quantize.onnx_export import weight_storage, write_qdq_onnx
    from edgecv.quantize.schemes import ORT_CPU
    from tests.quantize.tiny_models import cpu_scheme_fake_quant

    torch.manual_seed(0)
    model = TinyMobileNetV3()
    images = torch.rand(96, 3, 32, 32) * 2 - 1
    fake = cpu_scheme_fake_quant(model, images)
    path = tmp_path_factory.mktemp("fusion") / "int8.onnx"
    write_qdq_onnx(fake, InputSpec(shape=(3, 32, 32)), path, opset=17, weights=weight_storage(ORT_CPU))
    return path, images, model, strip_quantized(fake, images[:1])


def test_every_conv_and_activation_runs_in_int8(quantized: Quantized) -> None:
    fusion = ort_fusion(quantized[0])
    # stem (RGB input padded to 4 channels), expand, depthwise (32 channels), SE's two convs and project: all
    # QLinearConv. Without issue 10's output quantizers and activation rewrites only the project conv fused (1 of 6).
    assert (fusion["convs"], fusion.get("QLinearConv", 0), fusion["float_convs"]) == (6, 6, 0), fusion["ops"]
    # hard-swish x3 as a uint8 Clip (its input's grid aligned to -3) + QLinearMul, SE's hard-sigmoid as QLinearAdd
    # into a [0, 6] quantizer, the residual as QLinearAdd
    assert (fusion.get("QLinearAdd"), fusion.get("QLinearMul"), fusion.get("QLinearGlobalAveragePool")) == (2, 4, 2)
    assert fusion["ops"].get("Clip") == 3
    assert fusion["float_ops"] == {}, fusion["float_ops"]  # the stem's channel Pad runs on uint8
    assert fusion["qdq"] <= 3


def test_fused_int8_onnx_computes_what_the_fake_quantized_model_does(quantized: Quantized) -> None:
    from edgecv.runtime import OrtRunner

    path, images, model, fake = quantized
    with OrtRunner(path, threads=1) as runner:
        int8 = runner.infer(images.numpy())
    with torch.no_grad():
        fp32, reference = model(images).numpy(), fake(images).numpy()
    for other, least in ((reference, 0.999), (fp32, 0.99)):
        cosine = (int8 * other).sum(1) / (np.linalg.norm(int8, axis=1) * np.linalg.norm(other, axis=1))
        assert cosine.min() > least, cosine.min()
        assert (int8.argmax(1) == other.argmax(1)).mean() >= 0.95
