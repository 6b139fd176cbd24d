"""Tiny conv/BN/residual models for the quantization tests (16x16 inputs, a few seconds to train on digits)."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]


class Block(nn.Module):
    """conv-BN-ReLU, conv-BN, plus the shortcut (identity, or a strided 1x1 conv-BN), ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, cout, stride)
        self.relu1 = nn.ReLU()
        self.conv2, self.bn2 = conv_bn(cout, cout)
        self.shortcut = nn.Sequential(*conv_bn(cin, cout, stride, 1)) if stride != 1 or cin != cout else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class TinyResNet(nn.Module):
    """Stem (3 -> 16), a residual block at 16 channels, a strided block to ``width``, pooling, linear head."""

    def __init__(self, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 16), nn.ReLU())
        self.block1 = Block(16, 16)
        self.block2 = Block(16, width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(self.stem(x)))
        return self.head(torch.flatten(self.pool(x), 1))


def tiny_resnet(num_classes: int = 10) -> TinyResNet:
    """Factory for recipes: ``model: {arch: "tests.quantize.tiny_models:tiny_resnet"}``."""
    return TinyResNet(num_classes)


@torch.no_grad()
def make_outlier(model: TinyResNet, factor: float = 1000.0) -> None:
    """Scale channel 0 of block1's inner activation by ``factor`` and undo it in block1.conv2's weights.

    The float function is unchanged (ReLU is positively homogeneous), but a per-tensor activation quantizer on
    that ReLU's output now spends its range on one channel and flattens the others: block1.conv2 becomes by far
    the most quantization-sensitive layer.
    """
    block = model.block1
    block.bn1.weight[0] *= factor
    block.bn1.bias[0] *= factor
    block.conv2.weight[:, 0] /= factor


def cpu_scheme_fake_quant(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """``model`` with realistic BatchNorm statistics (one train-mode pass over ``images``, then eval), BatchNorm
    folded and NNCF-quantized in the ONNX Runtime CPU scheme on ``images`` in batches of 32: the quantize stage's
    calls, for tests that export the INT8 ONNX themselves."""
    import nncf

    from edgecv.quantize.bn_fold import fold_batchnorm
    from edgecv.quantize.nncf_ptq import Calibration, quantize_ptq
    from edgecv.quantize.schemes import ORT_CPU
    from edgecv.stages.quantize import QuantizeParams

    with torch.no_grad():
        model.train()
        model(images)
    model.eval()
    batches = list(images.split(32))
    calibration = Calibration(nncf.Dataset(batches), len(batches), len(images))
    return quantize_ptq(fold_batchnorm(model)[0], ORT_CPU, calibration, QuantizeParams(type="quantize"), [])
