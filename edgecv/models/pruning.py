"""Torch-Pruning rules for edgecv's own modules: pass ``customized_pruners()`` to a Torch-Pruning pruner.

Torch-Pruning traces channel dependencies through known layers only. The CIFAR ResNets' option-A shortcut
(:class:`~edgecv.models.cifar_resnet.PadShortcut`) changes the channel count without parameters; untold, the
tracer maps its channels 1:1 and a pruned network fails in its forward pass. With this rule, pruning the
shortcut's input channels zeroes what they fed, and pruning its output channels drops them.

Example::

    import torch_pruning as tp
    from edgecv.models.pruning import customized_pruners
    pruner = tp.pruner.MagnitudePruner(model, example, importance=tp.importance.MagnitudeImportance(),
                                       pruning_ratio=0.5, customized_pruners=customized_pruners())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn
from torch_pruning.pruner.function import BasePruningFunc

from edgecv.models.cifar_resnet import PadShortcut


class PadShortcutPruner(BasePruningFunc):
    """Prunes a PadShortcut: its input and output channels are independent (no intra-layer dependency)."""

    TARGET_MODULES = (PadShortcut,)

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        assert isinstance(layer, PadShortcut)
        drop = set(idxs)
        layer.set_source([s for j, s in enumerate(layer.source) if j not in drop], layer.in_planes)
        return layer

    def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        assert isinstance(layer, PadShortcut)
        drop = set(idxs)
        kept = [i for i in range(layer.in_planes) if i not in drop]
        renumber = {old: new for new, old in enumerate(kept)}
        layer.set_source([renumber.get(s, -1) for s in layer.source], len(kept))
        return layer

    def get_out_channels(self, layer: nn.Module) -> int:
        assert isinstance(layer, PadShortcut)
        return layer.out_planes

    def get_in_channels(self, layer: nn.Module) -> int:
        assert isinstance(layer, PadShortcut)
        return layer.in_planes


def customized_pruners() -> dict[type[nn.Module], Any]:
    """Torch-Pruning's ``customized_pruners`` argument for every edgecv module that needs a rule."""
    return {PadShortcut: PadShortcutPruner()}


def finalize_pruned(model: nn.Module) -> int:
    """Turn every pruned option-A shortcut that became a channel gather into a fixed 1x1 conv; returns how many.

    Measured on ResNet56 pruned to half the MACs (ONNX Runtime 1.32 CPU, INT8): with gathers, ORT ran 37
    Transposes and two float Adds around them; with selection convs, 2 Transposes as in the unpruned network,
    and the INT8 model ran 1.28x faster at batch 32 (``bench/results/prune_layouts.md``). Call it after the last
    pruning step: Torch-Pruning's dependency graph still refers to the shortcuts it traced.
    """
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PadShortcut) and child.pads is None:
                conv = child.as_selection_conv().to(child.index.device)
                setattr(parent, name, conv)
                replaced += 1
    return replaced
