"""A user's own segmenter, written the way ESPNet is (its habits, not its code), for the segmentation INT8 tests.

It sets ``self.modules = []`` (hiding ``nn.Module.modules``), keeps Conv, BatchNorm and PReLU as attributes of
small blocks (no ``nn.Sequential``), applies BatchNorm + PReLU after a ``torch.cat`` of parallel dilated convs,
and upsamples with ``ConvTranspose2d``; it returns (N, classes, H, W) logits at the input size (H, W divisible by 4).
"""

from __future__ import annotations

import torch
from torch import nn


class CBR(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class ParallelDilated(nn.Module):
    """Reduce, two dilated 3x3 convs in parallel, concatenated, BatchNorm + PReLU, residual add."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(width, width // 2, 1, bias=False)
        self.d1 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.d2 = nn.Conv2d(width // 2, width // 2, 3, padding=2, dilation=2, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reduce(x)
        a = self.d1(r)
        return self.act(self.bn(torch.cat([a, a + self.d2(r)], 1) + x))


class TinyESP(nn.Module):
    def __init__(self, classes: int, width: int = 16) -> None:
        super().__init__()
        self.stem = CBR(3, width, 3, stride=2)
        self.down = CBR(width, width, 3, stride=2)
        self.block = ParallelDilated(width)
        self.head = nn.Conv2d(width * 2, classes, 1)
        self.up = nn.ConvTranspose2d(classes, classes, 4, stride=4, bias=False)
        self.modules = []  # ESPNet's habit: shadows nn.Module.modules
        self.modules.append(self.stem)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.modules[0](x)
        deep = self.block(self.down(low))
        skip = nn.functional.avg_pool2d(low, 2)
        return self.up(self.head(torch.cat([deep, skip], 1)))


def tiny_esp(num_classes: int) -> TinyESP:
    """TinyESP by edgecv's ``num_classes`` (a teacher built from ``teacher.arch``, which takes no kwargs)."""
    return TinyESP(num_classes)
