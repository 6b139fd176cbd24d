"""Fold BatchNorm into the convolution before it, so the quantized conv is the whole layer.

ONNX Runtime fuses DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv only when nothing sits between the
conv and the next QuantizeLinear; an unfolded BatchNorm does, and then INT8 runs slower than FP32 (DESIGN:
measured facts). TensorRT also wants the BatchNorm folded before the weights are quantized.

The model is traced with torch.fx only to find the pairs (a Conv whose only use is a BatchNorm); the folding is
done on a copy of the original module tree, so module names and classes stay what they were.

Example::

    folded, pairs = fold_batchnorm(model)
    pairs        # [("conv1", "bn1"), ("layer1.0.conv1", "layer1.0.bn1"), ...]; each bn is now nn.Identity
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class FoldError(RuntimeError):
    """The model cannot be traced to find its Conv -> BatchNorm pairs."""


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, bn name) for each BatchNorm fed only by a Conv, both called once. Raises FoldError."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types for data-dependent control flow
        raise FoldError(f"torch.fx cannot trace the model ({type(exc).__name__}: {exc})") from exc
    modules = dict(traced.named_modules())
    calls = Counter(n.target for n in traced.graph.nodes if n.op == "call_module")
    pairs = []
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _BN):
            continue
        source = node.args[0]
        if not isinstance(source, torch.fx.Node) or source.op != "call_module":
            continue
        conv = modules[source.target]
        if isinstance(conv, _CONV) and len(source.users) == 1 and calls[source.target] == calls[node.target] == 1:
            pairs.append((str(source.target), str(node.target)))
    return pairs


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, list[tuple[str, str]]]:
    """A copy of ``model`` (eval mode) with each foldable BatchNorm merged into its conv and replaced by Identity."""
    pairs = conv_bn_pairs(model)
    folded = copy.deepcopy(model).eval()
    done = []
    for conv_name, bn_name in pairs:
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        if bn.running_mean is None:  # batch statistics at inference time: nothing fixed to fold
            continue
        folded.set_submodule(conv_name, fuse_conv_bn_eval(conv, bn))
        folded.set_submodule(bn_name, nn.Identity())
        done.append((conv_name, bn_name))
    return folded, done
