"""Pruning through a concat with an input Torch-Pruning's trace misses (ESPNet's ``cat([out1, out1_0, inp2])``):
the BatchNorm after it loses every slice its inputs lose, the class count stays, the MACs drop as asked."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgecv.compress.pruning import ChannelPruner
from edgecv.model_stats import count_macs
from edgecv.tasks.segmentation.models import SegmentationNet, head_modules
from tests.conftest import SHARED

CLASSES = 5
SHAPE = (3, 32, 48)


class BR(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(width)
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class Residual(nn.Module):
    """ESPNet's block in small: two parallel dilated convs concatenated, added to the input, BatchNorm + PReLU."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.d1 = nn.Conv2d(width, width // 2, 3, padding=1, bias=False)
        self.d2 = nn.Conv2d(width, width // 2, 3, padding=2, dilation=2, bias=False)
        self.br = BR(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.br(x + torch.cat([self.d1(x), self.d2(x)], 1))


class TinyESPNet(nn.Module):
    """The pattern that broke: ``cat([out1, out1_0, image pooled])``, out1 = out1_0 + f(out1_0), then BR."""

    def __init__(self, classes: int = CLASSES, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), BR(width))
        self.down = nn.Sequential(nn.Conv2d(width, width, 3, 2, 1, bias=False), BR(width))
        self.block = Residual(width)
        self.b2 = BR(2 * width + 3)
        self.project = nn.Conv2d(2 * width + 3, classes, 1, bias=False)
        self.up = nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False)
        self.classifier = nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1_0 = self.down(self.stem(x))
        out1 = self.block(out1_0)
        image = nn.functional.avg_pool2d(nn.functional.avg_pool2d(x, 3, 2, 1), 3, 2, 1)  # no grad: hidden
        cat = self.b2(torch.cat([out1, out1_0, image], 1))
        return self.classifier(self.up(self.project(cat)))


def tiny_model() -> SegmentationNet:
    torch.manual_seed(0)
    net = SegmentationNet(TinyESPNet()).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, *SHAPE))
    return net.eval()


def test_concat_with_hidden_input_prunes_to_macs_target() -> None:
    net = tiny_model()
    example = torch.zeros(1, *SHAPE)
    before = count_macs(net, SHAPE)
    pruner = ChannelPruner(net, example, heads=head_modules(net), round_to=2)
    assert pruner.fixed_concats == 1
    assert pruner.prune_until(macs_fraction=0.6)
    inner = net.net
    width = inner.down[0].out_channels
    assert width < 16 and inner.block.br.bn.num_features == width
    assert inner.b2.bn.num_features == 2 * width + 3 == inner.project.in_channels  # both slices, the image kept
    assert inner.project.out_channels == inner.up.out_channels == inner.classifier.out_channels == CLASSES
    out = net(torch.rand(2, *SHAPE))
    assert out.shape == (2, CLASSES, *SHAPE[1:]) and torch.isfinite(out).all()
    assert count_macs(net, SHAPE) <= 0.6 * before


def test_pruned_channels_are_the_same_in_both_slices() -> None:
    """The BatchNorm after the concat keeps exactly the channels its two coupled inputs keep, and the image's."""
    net = tiny_model()
    inner = net.net
    coupled, after = inner.down[1].bn.running_mean.clone(), inner.b2.bn.running_mean.clone()
    ChannelPruner(net, torch.zeros(1, *SHAPE), heads=head_modules(net), round_to=None, ratio=0.25).prune_ratio()
    kept = torch.tensor([int((coupled == value).nonzero()) for value in inner.down[1].bn.running_mean])
    assert len(kept) == 12
    expected = after[torch.cat([kept, 16 + kept, torch.tensor([32, 33, 34])])]
    torch.testing.assert_close(inner.b2.bn.running_mean, expected, rtol=0, atol=0)


def test_shared_espnet_prunes_with_decoder_whole() -> None:
    folder = SHARED / "models" / "espnet-camvid"
    if not (folder / "Model.py").is_file():
        pytest.skip("../shared/models/espnet-camvid is not present")
    from tests.conftest import import_beside

    torch.manual_seed(0)
    net = SegmentationNet(import_beside(folder, "Model").ESPNet(classes=12, p=2, q=8)).eval()
    shape = (3, 32, 48)
    before = count_macs(net, shape)
    kept = head_modules(net)
    assert {name for name, m in net.named_modules() if m in kept} >= {"net.classifier", "net.level3_C.conv",
                                                                    "net.up_l3.0", "net.encoder.classifier.conv"}
    pruner = ChannelPruner(net, torch.zeros(1, *shape), heads=kept, round_to=4, ratio=0.3)  # one step: fast
    assert pruner.fixed_concats == 2  # cat([output0, inp1]) and cat([output1, output1_0, inp2])
    pruner.prune_ratio()
    encoder = net.net.encoder
    assert encoder.b2.bn.num_features == 2 * encoder.level2_0.bn.num_features + 3 < 131  # was 89 vs 110
    assert encoder.b1.bn.num_features == encoder.level1.conv.out_channels + 3 < 19
    assert net(torch.zeros(1, *shape)).shape == (1, 12, *shape[1:])
    assert net.net.classifier.out_channels == net.net.level3_C.conv.out_channels == 12
    assert count_macs(net, shape) < 0.8 * before


def test_head_modules_keep_the_class_space_decoder_only() -> None:
    """The decoder from the first class-wide conv stays whole; an encoder conv narrower than the classes prunes."""
    net = SegmentationNet(TinyESPNet(classes=20, width=16))
    names = {name for name, m in net.named_modules() if m in head_modules(net)}
    assert names == {"net.project", "net.up", "net.classifier"}  # block.d1/d2 (8 wide) are not among them
