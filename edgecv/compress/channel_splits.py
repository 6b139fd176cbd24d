"""Layers whose channels pass a reshape that splits the channel axis (a channel shuffle) are kept whole.

Torch-Pruning 1.6 maps channel indices through a reshape only where it flattens channels into features (a
classifier's flatten). A reshape that splits the channel axis, as the ``reshape-permute-reshape-select`` or
``view-transpose-view`` of a channel shuffle does (ShuffleNetV2 and the detectors built on it), it reads as an
"unflatten" with a stride that means nothing there (FastestDet: strides 2 to 8 and -1, then ``IndexError: index 48
is out of bounds``). Its maintainer's advice is to leave those layers out (VainF/Torch-Pruning issue 45).

:func:`channel_split_layers` finds every pruning group that crosses such a reshape and returns the layers whose
output channels it would prune; given to the pruner as ignored layers, those groups stay whole and every other
group prunes as usual. In a ShuffleNetV2 block that leaves the branch's internal channels (the first 1x1 conv's
outputs, the depthwise conv, the second 1x1 conv's inputs), plus whatever does not touch a shuffle (a stem, a neck).
Models without such a reshape (ResNets, MobileNets, ConvNeXt, ViT) get an empty list: nothing changes for them.

Example::

    kept = channel_split_layers(model, torch.zeros(1, 3, 352, 352), ignored=heads)
    pruner = tp.pruner.MetaPruner(model, example, ignored_layers=[*heads, *kept], ...)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.dependency.index_mapping import _FlattenIndexMapping
from torch_pruning.dependency.node import Node

from edgecv.compress.concat_mapping import ConcatRecorder, fix_concat_mappings
from edgecv.models.pruning import customized_pruners

ROOT_TYPES = (tp.ops.TORCH_CONV, tp.ops.TORCH_LINEAR, tp.ops.TORCH_LSTM)
"""The layer types a pruning group starts from: MetaPruner's default ``root_module_types``."""


def splits_channels(node: Node) -> bool:
    """Whether Torch-Pruning read this reshape as splitting the channel axis (its "unflatten" index mapping)."""
    if node.type != tp.ops.OPTYPE.RESHAPE:
        return False
    return any(dep.target in node.outputs and isinstance(dep.index_mapping[0], _FlattenIndexMapping)
               for dep in node.dependencies)


def channel_split_layers(model: nn.Module, example: torch.Tensor, *,
                         ignored: Sequence[nn.Module] = ()) -> list[nn.Module]:
    """The layers to keep whole so no pruning group crosses a channel-splitting reshape (empty if none does).

    ``ignored``: modules already left whole (their submodules too), as the pruner will be told.
    """
    with ConcatRecorder() as recorder:
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example,
                                                      customized_pruners=customized_pruners(), verbose=False)
    fix_concat_mappings(graph, recorder)
    if not any(splits_channels(node) for node in graph.module2node.values()):
        return []
    skip = [sub for module in ignored for sub in module.modules()]
    layers = set(model.modules())  # the graph also holds Torch-Pruning's stand-ins for functional ops
    kept: list[nn.Module] = []
    for group in graph.get_all_groups(ignored_layers=skip, root_module_types=ROOT_TYPES):
        if not any(splits_channels(dep.target) or splits_channels(dep.source) for dep, _ in group):
            continue
        for dep, _ in group:
            module = dep.target.module
            if graph.is_out_channel_pruning_fn(dep.handler) and module in layers and module not in kept:
                kept.append(module)
    return kept
