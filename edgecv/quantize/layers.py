"""The quantizable layers of a model (ops with weights), as NNCF sees them, and ignored-scope resolution.

NNCF names each traced op by its module path and call: the conv of module ``layer1.0.conv1`` is the node
``layer1/0/conv1/conv2d/0``. Recipes and reports use module names; NNCF's IgnoredScope takes node names. A
:class:`Layer` carries both, and the nodes feeding its activation input, so the quantizers of one layer can be
found in a quantized model (for the sensitivity ranking).

Example::

    layers = model_layers(model, torch.zeros(1, 3, 32, 32))
    [(l.name, l.node) for l in layers][:2]       # [("conv1", "conv1/conv2d/0"), ("layer1.0.conv1", ...)]
    resolve_ignored(["re:layer3\\..*", "linear"], layers, "stages[0]")   # the matching Layers
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from edgecv.errors import RecipeError

_PASS_THROUGH = {"flatten", "reshape", "view", "max_pool2d", "pad", "contiguous", "dropout", "identity"}


@dataclass(frozen=True)
class Layer:
    """One op with weights: NNCF node name, module name, op type, and its activation producers (nearest first)."""

    node: str
    name: str
    op: str
    weight_ports: tuple[int, ...]
    producers: tuple[tuple[str, int], ...]
    """(NNCF node, output port) chain feeding input 0: the direct producer, then through pass-through ops."""


def _module_name(node_name: str, const_name: str | None) -> str:
    if const_name and "." in const_name:
        return const_name.rsplit(".", 1)[0]
    parts = node_name.split("/")
    return ".".join(parts[:-2]) if len(parts) > 2 else node_name


def model_layers(model: nn.Module, example: torch.Tensor) -> list[Layer]:
    """Every op with constant weights in ``model``, in graph order (NNCF's traced graph of one forward pass)."""
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph
    from nncf.torch.model_graph_manager import find_const_node_in_constant_subgraph, get_weight_tensor_port_ids

    graph = build_nncf_graph(model.eval(), example)
    layers = []
    for node in graph.get_all_nodes():
        weight_ports = getattr(node.metatype, "weight_port_ids", None)
        if not weight_ports:
            continue
        ports = get_weight_tensor_port_ids(node, graph)
        if not ports:
            continue
        edges = {e.input_port_id: e for e in graph.get_input_edges(node)}
        const = find_const_node_in_constant_subgraph(edges[ports[0]].from_node, graph)
        producers: list[tuple[str, int]] = []
        edge = next((e for p, e in sorted(edges.items()) if p not in ports), None)
        while edge is not None and len(producers) < 6:
            producers.append((edge.from_node.node_name, edge.output_port_id))
            source = edge.from_node
            op = source.node_name.split("/")[-2] if "/" in source.node_name else ""
            inputs = graph.get_input_edges(source)
            edge = inputs[0] if op in _PASS_THROUGH and inputs else None
        layers.append(
            Layer(
                node=node.node_name,
                name=_module_name(node.node_name, const.node_name if const else None),
                op=node.node_name.split("/")[-2] if "/" in node.node_name else node.node_type,
                weight_ports=tuple(ports),
                producers=tuple(producers),
            )
        )
    return layers


def resolve_ignored(patterns: list[str], layers: list[Layer], key: str) -> list[Layer]:
    """The layers named by ``patterns``: module names, or ``re:`` regexes matched (fully) against module names
    and NNCF node names. A pattern that matches nothing is a RecipeError naming the layers there are."""
    chosen: dict[str, Layer] = {}
    for index, pattern in enumerate(patterns):
        if pattern.startswith("re:"):
            regex = re.compile(pattern[3:])
            found = [x for x in layers if regex.fullmatch(x.name) or regex.fullmatch(x.node)]
        else:
            found = [x for x in layers if pattern in (x.name, x.node)]
        if not found:
            known = ", ".join(x.name for x in layers[:8]) + (", ..." if len(layers) > 8 else "")
            raise RecipeError(
                f"key '{key}.ignored_scope[{index}]': {pattern!r} matches no quantizable layer; "
                f"give a module name with weights (e.g. {known}) or a regex prefixed 're:'"
            )
        chosen.update({x.node: x for x in found})
    return [x for x in layers if x.node in chosen]
