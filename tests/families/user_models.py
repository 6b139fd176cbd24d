"""User models for the family tests (``model.arch: tests.families.user_models:factory``).

``UserNet`` has what breaks naive INT8 and pruning: a residual Add, a ``torch.cat`` of two branches (NNCF unifies
their quantizer scales), a depthwise conv, SiLU and a squeeze-and-excitation gate. ``TwoHeads`` returns two
outputs (a tuple), which the stages refuse before any work.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_act(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU())


class SqueezeExcite(nn.Module):
    """Channel gate: global pool, 1x1 reduce, SiLU, 1x1 expand, sigmoid, multiply."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class DepthwiseSEBlock(nn.Module):
    """Depthwise 3x3 (SiLU), SE, pointwise 1x1 with BN, plus the identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_act(channels, channels, groups=channels)
        self.se = SqueezeExcite(channels, channels // 4)
        self.pointwise = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pointwise(self.se(self.depthwise(x)))


class ConcatBlock(nn.Module):
    """A 1x1 and a 3x3 branch concatenated along channels and mixed by a 1x1 conv (inception/fire style)."""

    def __init__(self, cin: int, branch: int, stride: int = 2) -> None:
        super().__init__()
        self.narrow = conv_bn_act(cin, branch, 1, stride)
        self.wide = conv_bn_act(cin, branch, 3, stride)
        self.mix = conv_bn_act(2 * branch, 2 * branch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([self.narrow(x), self.wide(x)], dim=1))


class UserNet(nn.Module):
    """Stem, depthwise-SE residual block, concat block, depthwise-SE block, pooled linear head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = conv_bn_act(3, 32)
        self.block1 = DepthwiseSEBlock(32)
        self.concat = ConcatBlock(32, 32)
        self.block2 = DepthwiseSEBlock(64)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.concat(self.block1(self.stem(x))))
        return self.head(torch.flatten(self.pool(x), 1))


class TwoHeads(nn.Module):
    """A conv trunk with two linear heads, returning both (logits, auxiliary logits)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.trunk = nn.Sequential(conv_bn_act(3, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.main = nn.Linear(16, num_classes)
        self.aux = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.main(features), self.aux(features)


def factory(num_classes: int = 10) -> UserNet:
    """The recipe's factory: ``model: {arch: tests.families.user_models:factory}``."""
    return UserNet(num_classes)


def two_heads(num_classes: int = 10) -> TwoHeads:
    """A two-output model: ``model: {arch: tests.families.user_models:two_heads}``."""
    return TwoHeads(num_classes)


def tiny_vit(num_classes: int = 10) -> nn.Module:
    """torchvision's VisionTransformer (vit_b_16's class and code) at 32x32: patch 8, 2 layers, 2 heads, width 64."""
    from torchvision.models import VisionTransformer

    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=256,
                              num_classes=num_classes)
    nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision zeroes it: all-zero logits compare nothing
    return model


def tiny_densenet(num_classes: int = 10) -> nn.Module:
    """torchvision's DenseNet class (densenet121's code: dense concat blocks, transitions) at 2 layers per block."""
    from torchvision.models import DenseNet

    return DenseNet(growth_rate=12, block_config=(2, 2, 2, 2), num_init_features=24, bn_size=2,
                    num_classes=num_classes)


def tiny_convnext(num_classes: int = 10) -> nn.Module:
    """torchvision's ConvNeXt class (convnext_tiny's code: LayerNorm2d, depthwise 7x7, layer scale) at 1 block
    per stage and a quarter of the widths."""
    from torchvision.models import ConvNeXt
    from torchvision.models.convnext import CNBlockConfig

    widths = [24, 48, 96, 192]
    stages = [CNBlockConfig(w, nxt, 1) for w, nxt in zip(widths, [*widths[1:], None], strict=True)]
    return ConvNeXt(stages, num_classes=num_classes)


def tiny_efficientnet(num_classes: int = 10) -> nn.Module:
    """torchvision's EfficientNet class (efficientnet_b0's MBConv: SE, SiLU, stochastic depth) at 4 single blocks."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    setting = [MBConvConfig(1, 3, 1, 16, 16, 1), MBConvConfig(6, 3, 2, 16, 24, 1), MBConvConfig(6, 5, 2, 24, 40, 1),
               MBConvConfig(6, 3, 2, 40, 80, 1)]
    return EfficientNet(setting, dropout=0.2, num_classes=num_classes, last_channel=320)


def tiny_regnet(num_classes: int = 10) -> nn.Module:
    """torchvision's RegNet class (regnet_x_400mf's width rule and group convs) at depth 4."""
    from torchvision.models.regnet import BlockParams, RegNet

    return RegNet(BlockParams.from_init_params(depth=4, w_0=24, w_a=24.48, w_m=2.54, group_width=8),
                  num_classes=num_classes)
