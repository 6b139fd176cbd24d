"""Fold BatchNorm into the convolution before it, so the quantized conv is the whole layer.

ONNX Runtime fuses DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv only when nothing sits between the
conv and the next QuantizeLinear; an unfolded BatchNorm does, and then INT8 runs slower than FP32 (DESIGN:
measured facts). TensorRT also wants the BatchNorm folded before the weights are quantized.

The model is traced with torch.fx only to find the pairs (a Conv whose only use is a BatchNorm); the folding is
done on a copy of the original module tree, so module names and classes stay what they were. A model fx cannot
trace (control flow on values, ``x.data``: users' own models often) is folded where the pairs are certain without
a trace: a Conv directly followed by a BatchNorm inside an ``nn.Sequential``, each module used once.

Example::

    folded, pairs = fold_batchnorm(model)
    pairs        # [("conv1", "bn1"), ("layer1.0.conv1", "layer1.0.bn1"), ...]; each bn is now nn.Identity
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class FoldError(RuntimeError):
    """The model cannot be traced to find its Conv -> BatchNorm pairs."""


def sequential_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, bn name) for each Conv followed directly by a BatchNorm in an ``nn.Sequential``, neither of them
    shared with another place in the model (so the BatchNorm's only input is that conv's output)."""
    uses = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    pairs = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (conv_name, conv), (bn_name, bn) in itertools.pairwise(children):
            if isinstance(conv, _CONV) and isinstance(bn, _BN) and uses[id(conv)] == uses[id(bn)] == 1:
                prefix = f"{name}." if name else ""
                pairs.append((prefix + conv_name, prefix + bn_name))
    return pairs


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, bn name) for each BatchNorm fed only by a Conv, both called once. Raises FoldError when fx
    cannot trace the model and no nn.Sequential holds a pair either."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types for data-dependent control flow
        pairs = sequential_pairs(model)
        if pairs:
            return pairs
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
