"""CIFAR ResNets of He et al. 2016 ("Deep Residual Learning", section 4.2) with the option-A shortcut.

Module and parameter names match the akamaster/pytorch_resnet_cifar10 checkpoints (``conv1``, ``bn1``,
``layer{1,2,3}.{i}.conv{1,2}``/``bn{1,2}``, ``linear``), so those load strictly once their DataParallel
``module.`` prefix is stripped. The option-A shortcut is a module (:class:`PadShortcut`), not a lambda, so the
legacy ONNX exporter can trace it and Torch-Pruning can be given a custom rule for it by type.

Example::

    from edgecv.models.cifar_resnet import resnet20
    model = resnet20(num_classes=10)   # input (N, 3, 32, 32), output (N, 10) logits
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = (20, 32, 44, 56, 110)
"""The depths registered in the model zoo (6n + 2 layers, n = 3, 5, 7, 9, 18)."""

WIDTHS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample H and W by ``stride``, zero-pad channels ``in_planes`` -> ``out_planes``.

    It has no parameters and no state_dict entries. ``source[j]`` is the input channel that output channel
    ``j`` copies, or -1 for a zero channel. In the paper's networks that is ``planes // 4`` zeros, the input,
    ``planes // 4`` zeros, computed as slicing plus ``F.pad`` (ONNX Slice + Pad). Channel pruning (see
    ``edgecv.models.pruning``) may leave any mapping, computed then as a gather (ONNX Gather).
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int = 2) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"PadShortcut cannot shrink channels ({in_planes} -> {out_planes})")
        self.stride = stride
        before = (out_planes - in_planes) // 2
        after = out_planes - in_planes - before
        self.register_buffer("index", torch.zeros(0, dtype=torch.long), persistent=False)
        self.set_source([-1] * before + list(range(in_planes)) + [-1] * after, in_planes)

    def set_source(self, source: list[int], in_planes: int) -> None:
        """Set which input channel (or -1: zeros) each output channel copies."""
        if any(not -1 <= s < in_planes for s in source):
            raise ValueError(f"PadShortcut source {source} refers to channels outside 0..{in_planes - 1}")
        self.source = list(source)
        self.in_planes = in_planes
        self.out_planes = len(source)
        self.pads = _as_padding(self.source, in_planes)
        self.index = torch.tensor([in_planes if s < 0 else s for s in source], device=self.index.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` subsampled by ``stride`` on H and W, its channels placed as ``source`` says."""
        x = x[:, :, :: self.stride, :: self.stride]
        if self.pads is not None:
            return F.pad(x, (0, 0, 0, 0, *self.pads), mode="constant", value=0.0)
        # Channel ``in_planes`` of the padded tensor is the zero channel ``index`` points at for -1.
        return F.pad(x, (0, 0, 0, 0, 0, 1)).index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"

    def as_selection_conv(self) -> ChannelSelectConv:
        """The same mapping as a fixed one-hot 1x1 convolution with this shortcut's stride."""
        return ChannelSelectConv(self.source, self.in_planes, self.stride)


class ChannelSelectConv(nn.Conv2d):
    """A frozen 1x1 convolution whose one-hot weights copy input channel ``source[j]`` to output ``j`` (-1: zeros).

    The export form of a pruned :class:`PadShortcut` whose mapping is no longer "zeros, input, zeros": as a
    Gather, ONNX Runtime keeps it and the residual Add after it in float and wraps every INT8 conv behind it in
    layout Transposes; as a convolution it joins the INT8 NHWC chain like any other (see
    ``edgecv.models.pruning.finalize_pruned``). Its weights do not train (``requires_grad`` is False), so
    fine-tuning keeps it an exact copy.
    """

    def __init__(self, source: list[int], in_planes: int, stride: int) -> None:
        super().__init__(in_planes, len(source), kernel_size=1, stride=stride, bias=False)
        weight = torch.zeros(len(source), in_planes, 1, 1)
        for out_channel, in_channel in enumerate(source):
            if in_channel >= 0:
                weight[out_channel, in_channel] = 1.0
        self.weight = nn.Parameter(weight, requires_grad=False)


def _as_padding(source: list[int], in_planes: int) -> tuple[int, int] | None:
    """(zeros before, zeros after) when ``source`` is zeros, all input channels in order, zeros; else None."""
    before = next((j for j, s in enumerate(source) if s >= 0), len(source))
    after = len(source) - before - in_planes
    if after < 0 or source != [-1] * before + list(range(in_planes)) + [-1] * after:
        return None
    return before, after


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus the shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = PadShortcut(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: a 3x3 stem, three stages of n blocks (16, 32, 64 wide), GAP, linear."""

    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        blocks = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(3, WIDTHS[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU()
        self.layer1 = self._make_stage(WIDTHS[0], WIDTHS[0], blocks, stride=1)
        self.layer2 = self._make_stage(WIDTHS[0], WIDTHS[1], blocks, stride=2)
        self.layer3 = self._make_stage(WIDTHS[1], WIDTHS[2], blocks, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(WIDTHS[2], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight)

    @staticmethod
    def _make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_planes, planes, stride)]
        layers += [BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(self.pool(out), 1))


def cifar_resnet(depth: int, num_classes: int = 10) -> CifarResNet:
    """Build a CIFAR ResNet of the given depth (20, 32, 44, 56, 110, or any 6n + 2)."""
    return CifarResNet(depth, num_classes)


def resnet20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 (0.27M parameters)."""
    return CifarResNet(20, num_classes)


def resnet32(num_classes: int = 10) -> CifarResNet:
    """ResNet-32 (0.46M parameters)."""
    return CifarResNet(32, num_classes)


def resnet44(num_classes: int = 10) -> CifarResNet:
    """ResNet-44 (0.66M parameters)."""
    return CifarResNet(44, num_classes)


def resnet56(num_classes: int = 10) -> CifarResNet:
    """ResNet-56 (0.85M parameters)."""
    return CifarResNet(56, num_classes)


def resnet110(num_classes: int = 10) -> CifarResNet:
    """ResNet-110 (1.7M parameters)."""
    return CifarResNet(110, num_classes)
