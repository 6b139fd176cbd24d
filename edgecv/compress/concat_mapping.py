"""Channel index mapping through a ``torch.cat`` one of whose inputs Torch-Pruning 1.6 cannot see.

Torch-Pruning traces the autograd graph. A concat input that carries no gradient (a pooled copy of the input image,
as ESPNet's ``cat([output1, output1_0, inp2])`` with ``inp2 = avgpool(avgpool(image))``, or a constant) is not in
that graph, so the concat node lists fewer inputs than it has. Its ``update_concat_index_mapping`` then finds the
inputs' channels (64 + 64) short of the layer after the concat (131), takes it for a concat on another axis and
leaves every input's index mapping the identity. That is right only for the first input: channel ``j`` of
``output1_0`` (at offset 64) is pruned as channel ``j`` of the BatchNorm after the concat, the same channel as
``output1``'s, so the BatchNorm loses one slice where the tensor loses two (``running_mean should contain 89
elements not 110``). ESPNet's other such concat, ``cat([output0, inp1])``, only worked because the hidden input
comes last.

The fix: record every concat's input sizes during Torch-Pruning's own trace (a ``TorchFunctionMode`` around the
graph build), find each input's position from the concat's ``next_functions`` (``None`` where it carries no
gradient), and give the concat's dependencies a mapping that adds (or removes) the input's real offset: the sizes
before it, read live from the graph for traced inputs (they shrink as pruning proceeds) and as recorded for the
hidden ones (nothing can prune them). Concats whose inputs are all traced keep Torch-Pruning's own mapping.

Example::

    with ConcatRecorder() as recorder:
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    fix_concat_mappings(graph, recorder)      # number of concats fixed
"""

from __future__ import annotations

from typing import Any

import torch
import torch_pruning as tp
from torch.overrides import TorchFunctionMode
from torch_pruning._helpers import _HybridIndex
from torch_pruning.dependency import shape_infer
from torch_pruning.dependency.node import Node

CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}


class ConcatRecorder(TorchFunctionMode):
    """Records, for each channel concat (dim 1) run under it, the channel count of every input by its grad_fn."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[Any, list[int]] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in CAT_FUNCTIONS and isinstance(out, torch.Tensor) and out.grad_fn is not None and out.dim() >= 2:
            tensors = args[0] if args else kwargs["tensors"]
            dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
            if dim % out.dim() == 1:
                self.sizes[out.grad_fn] = [int(t.shape[1]) for t in tensors]
        return out


def _traced(entry: tuple[Any, int]) -> bool:
    """Whether Torch-Pruning made a node of this concat input (not a tensor without grad, not a leaf)."""
    fn = entry[0]
    return fn is not None and "accumulategrad" not in fn.name().lower()


class _Layout:
    """The concat's input slots: a traced input's node (live width) or a hidden input's fixed width."""

    def __init__(self, graph: tp.DependencyGraph, cat: Node, slots: list[Node | int]) -> None:
        self.graph, self.cat, self.slots = graph, cat, slots

    def offset(self, position: int) -> tuple[int, int]:
        """Start and end of slot ``position`` in the concat's channels, with the widths the layers have now."""
        start = 0
        for index, slot in enumerate(self.slots):
            width = slot if isinstance(slot, int) else shape_infer.infer_channels_between(self.graph, slot, self.cat)
            if width is None:
                raise RuntimeError(f"cannot infer the channels of {slot} entering {self.cat}")
            if index == position:
                return start, start + width
            start += width
        raise IndexError(position)


class _HiddenInputConcatMapping:
    """Input channel -> concat channel (``into_concat``) or back, at the slot's offset in the full concat."""

    def __init__(self, layout: _Layout, position: int, into_concat: bool) -> None:
        self.layout, self.position, self.into_concat = layout, position, into_concat

    def __call__(self, idxs: list[_HybridIndex]) -> list[_HybridIndex]:
        start, end = self.layout.offset(self.position)
        if self.into_concat:
            return [_HybridIndex(idx=i.idx + start, root_idx=i.root_idx) for i in idxs]
        return [_HybridIndex(idx=i.idx - start, root_idx=i.root_idx) for i in idxs if start <= i.idx < end]


def _assign(deps: list[Any], target: Node, taken: list[Any], mapping: _HiddenInputConcatMapping) -> None:
    """Set ``mapping`` on the first dependency to ``target`` not yet given one (an input used twice has two)."""
    for dep in deps:
        if dep.target is target and not any(dep is t for t in taken):
            dep.index_mapping[1] = mapping
            taken.append(dep)
            return


def fix_concat_mappings(graph: tp.DependencyGraph, recorder: ConcatRecorder) -> int:
    """Install offset mappings on every channel concat with inputs the graph does not hold; returns how many."""
    fixed = 0
    for node in graph.module2node.values():
        if node.type != tp.ops.OPTYPE.CONCAT or node.grad_fn not in recorder.sizes:
            continue
        sizes = recorder.sizes[node.grad_fn]
        positions = [k for k, entry in enumerate(node.grad_fn.next_functions) if _traced(entry)]
        if len(positions) == len(sizes) or len(positions) != len(node.inputs):
            continue  # all traced (Torch-Pruning maps it) or not the layout recorded
        slots: list[Node | int] = list(sizes)
        for position, in_node in zip(positions, node.inputs, strict=True):
            slots[position] = in_node
        layout = _Layout(graph, node, slots)
        node.enable_index_mapping = False  # Torch-Pruning's update would leave the identity; keep ours
        out_taken: list[Any] = []
        in_taken: list[Any] = []
        for position, in_node in zip(positions, node.inputs, strict=True):
            _assign(node.dependencies, in_node, out_taken, _HiddenInputConcatMapping(layout, position, False))
            _assign(in_node.dependencies, node, in_taken, _HiddenInputConcatMapping(layout, position, True))
        fixed += 1
    return fixed
