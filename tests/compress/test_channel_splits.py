"""ShuffleNetV2-style networks prune around their channel shuffles: exactly the channels Torch-Pruning can map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from edgecv.compress.channel_splits import channel_split_layers
from edgecv.compress.pruning import ChannelPruner
from edgecv.model_stats import count_macs
from tests.conftest import import_beside

DETECTION_TESTS = Path(__file__).resolve().parents[1] / "tasks" / "detection"
SHAPE = (3, 64, 64)


def tiny_shuffle_detector() -> nn.Module:
    """The user detector with two ShuffleNetV2 blocks, seeded, BatchNorm statistics from a few noise batches."""
    torch.manual_seed(0)
    net = import_beside(DETECTION_TESTS, "user_detectors").TinyShuffleV2Detector(10).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, *SHAPE))
    return net.eval()


def kill_channels(net: nn.Module, dead: slice) -> None:
    """Make channels ``dead`` of every prunable group contribute nothing, so pruning them changes no output."""
    with torch.no_grad():
        for block in net.blocks:
            pw, bn1, dw, bn2 = block.branch_main[0], block.branch_main[1], block.branch_main[3], block.branch_main[4]
            for layer in (pw, dw, bn1, bn2):
                layer.weight[dead] = 0.0
            bn1.bias[dead], bn2.bias[dead] = 0.0, 0.0
        conv, bn = net.down[0], net.down[1]
        conv.weight[dead], bn.weight[dead], bn.bias[dead] = 0.0, 0.0, 0.0


def test_layers_feeding_the_shuffle_are_kept_whole_and_the_rest_prunes_exactly() -> None:
    net = tiny_shuffle_detector()
    kept = channel_split_layers(net, torch.zeros(1, *SHAPE), ignored=[net.detect_head])
    names = {module: name for name, module in net.named_modules()}
    kept_names = {names[m] for m in kept}
    assert {"stem.0", "blocks.0.branch_main.6", "blocks.1.branch_main.6"} <= kept_names  # outputs reach a shuffle
    assert not kept_names & {"blocks.0.branch_main.0", "blocks.0.branch_main.3", "down.0"}  # internal: prunable
    kill_channels(net, slice(16, 32))
    example = torch.rand(2, *SHAPE)
    with torch.no_grad():
        before = net(example)
    macs = count_macs(net, SHAPE)
    pruner = ChannelPruner(net, torch.zeros(1, *SHAPE), ratio=0.5, round_to=16, heads=[net.detect_head])
    pruner.prune_ratio()
    assert [b.branch_main[0].out_channels for b in net.blocks] == [16, 16] and net.down[0].out_channels == 16
    assert net.stem[0].out_channels == 32 and net.detect_head.out_channels == 15  # the shuffle's and the head's
    assert count_macs(net, SHAPE) < 0.8 * macs
    with torch.no_grad():
        after = net(example)
    assert after.shape == before.shape == (2, 15, 16, 16)
    assert torch.allclose(after, before, atol=1e-5)  # only the dead channels went: the index mapping is right


def test_pruned_shuffle_network_exports_and_onnx_runtime_matches_torch(tmp_path: Path) -> None:
    net = tiny_shuffle_detector()
    ChannelPruner(net, torch.zeros(1, *SHAPE), ratio=0.5, round_to=8, heads=[net.detect_head]).prune_ratio()
    example = torch.rand(1, *SHAPE)
    with torch.no_grad():
        expected = net(example).numpy()
    path = tmp_path / "pruned.onnx"
    torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=17, input_names=["images"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": example.numpy()})
    assert got.shape == expected.shape == (1, 15, 16, 16)
    assert np.abs(got - expected).max() < 1e-5


def test_networks_without_a_channel_split_keep_nothing_extra() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()
    assert channel_split_layers(net, torch.zeros(1, 3, 16, 16), ignored=[net[-1]]) == []
