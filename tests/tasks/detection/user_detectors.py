"""A user's own detector, written the way users' detectors are (FastestDet's habits), for the user-detector tests.

It reads ``x.data.size()`` in a channel shuffle (so tracing bakes the batch size into reshapes, and NNCF's graph
holds the ``Tensor.data`` descriptor), branches on ``self.training`` (so torch.fx cannot trace it), keeps its
Conv+BatchNorm pairs in ``nn.Sequential``, and returns one FastestDet-style map ``(N, 1+4+C, H/4, W/4)``.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class TinyShuffleDetector(nn.Module):
    def __init__(self, category_num: int, width: int = 16) -> None:
        super().__init__()
        self.stem = _conv_bn(3, width, 3, stride=2)
        self.branch = nn.Sequential(_conv_bn(width // 2, width // 2, 3, groups=width // 2),
                                    _conv_bn(width // 2, width // 2, 1))
        self.down = _conv_bn(width, width, 3, stride=2)
        self.head = nn.Conv2d(width, 1 + 4 + category_num, 1)

    def channel_shuffle(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batchsize, num_channels, height, width = x.data.size()
        x = x.reshape(batchsize * num_channels // 2, 2, height * width).permute(1, 0, 2)
        x = x.reshape(2, -1, num_channels // 2, height, width)
        return x[0], x[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        kept, mixed = self.channel_shuffle(x)
        if self.training:
            mixed = mixed + 0.0
        x = self.down(torch.cat((kept, self.branch(mixed)), 1))
        out = self.head(x)
        return torch.cat((torch.sigmoid(out[:, :1]), out[:, 1:5], torch.softmax(out[:, 5:], dim=1)), 1)


class ShuffleBlock(nn.Module):
    """ShuffleNetV2's stride-1 block as FastestDet writes it: shuffle-split the channels, then pw -> dw -> pw."""

    def __init__(self, channels: int, mid: int) -> None:
        super().__init__()
        half = channels // 2
        self.branch_main = nn.Sequential(
            nn.Conv2d(half, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, 1, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batchsize, num_channels, height, width = x.data.size()
        x = x.reshape(batchsize * num_channels // 2, 2, height * width).permute(1, 0, 2)
        x = x.reshape(2, -1, num_channels // 2, height, width)
        return torch.cat((x[0], self.branch_main(x[1])), 1)


class TinyShuffleV2Detector(nn.Module):
    """A stem, two ShuffleNetV2 blocks with 32 internal channels each, a stride-2 conv and a FastestDet-style head."""

    def __init__(self, category_num: int, width: int = 32) -> None:
        super().__init__()
        self.stem = _conv_bn(3, width, 3, stride=2)
        self.blocks = nn.Sequential(ShuffleBlock(width, width), ShuffleBlock(width, width))
        self.down = _conv_bn(width, width, 3, stride=2)
        self.detect_head = nn.Conv2d(width, 1 + 4 + category_num, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.detect_head(self.down(self.blocks(self.stem(x))))
        return torch.cat((torch.sigmoid(out[:, :1]), out[:, 1:5], torch.softmax(out[:, 5:], dim=1)), 1)
