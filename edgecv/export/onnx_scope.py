"""Name lookup and constant tracing over an ONNX graph, for the static TensorRT checks.

A :class:`Scope` holds the names one graph (or function body) can see, falling back to the enclosing graphs
(``If``/``Loop``/``Scan`` bodies read their parent's tensors). The helpers answer what the rules in
:mod:`edgecv.export.tensorrt_checker` and :mod:`edgecv.export.tensorrt_qdq` ask of an input: which tensor
is behind it, its values, whether it is fixed at build time.

Example::

    scope = Scope(list(graph.node), list(graph.initializer), [i.name for i in graph.input], None, "", {})
    const_array(scope, "conv1.weight_scale")       # np.ndarray, or None when not a constant
    is_constant(scope, "input")                    # False: a runtime input
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = [
    "DEFAULT_DOMAINS",
    "Ref",
    "Scope",
    "attr_int",
    "const_array",
    "const_tensor",
    "elem_type",
    "is_constant",
    "is_default",
    "node_input",
]

DEFAULT_DOMAINS = ("", "ai.onnx")

# Ops that keep a constant constant: a weight behind them is still a weight, not an activation.
_CONSTANT_PASSTHROUGH = frozenset(
    {"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "DequantizeLinear"}
)


@dataclass(frozen=True)
class Ref:
    kind: Literal["init", "node", "input", "unknown"]
    tensor: onnx.TensorProto | None = None
    node: onnx.NodeProto | None = None


class Scope:
    """Names visible to the nodes of one graph (or function body), falling back to the enclosing scopes."""

    def __init__(
        self,
        nodes: list[onnx.NodeProto],
        initializers: list[onnx.TensorProto],
        inputs: list[str],
        parent: Scope | None,
        path: str,
        labels: dict[int, str],
    ) -> None:
        self.parent = parent
        self.nodes = nodes
        self.initializers = {t.name: t for t in initializers}
        # In IR < 4 initializers are also graph inputs; those are constants, not runtime inputs.
        self.inputs = {name for name in inputs if name and name not in self.initializers}
        self.producers: dict[str, onnx.NodeProto] = {}
        for index, node in enumerate(nodes):
            labels[id(node)] = node.name or f"{path}{node.op_type}#{index}"
            for out in node.output:
                if out:
                    self.producers[out] = node

    def lookup(self, name: str) -> Ref:
        """What ``name`` is here: an initializer, a node's output, a (sub)graph input, or unknown."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.initializers:
                return Ref("init", tensor=scope.initializers[name])
            if name in scope.producers:
                return Ref("node", node=scope.producers[name])
            if name in scope.inputs:
                return Ref("input")
            scope = scope.parent
        return Ref("unknown")


def attr_int(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name and attr.type == onnx.AttributeProto.INT:
            return int(attr.i)
    return default


def node_input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def is_default(node: onnx.NodeProto) -> bool:
    return node.domain in DEFAULT_DOMAINS


def const_tensor(scope: Scope, name: str, depth: int = 0) -> onnx.TensorProto | None:
    """The TensorProto behind ``name``: an initializer, a Constant's value, or an Identity of one."""
    if not name or depth > 8:
        return None
    ref = scope.lookup(name)
    if ref.tensor is not None:
        return ref.tensor
    node = ref.node
    if node is not None and is_default(node):
        if node.op_type == "Constant":
            return _constant_value(node)
        if node.op_type == "Identity":
            return const_tensor(scope, node_input(node, 0), depth + 1)
    return None


def _constant_value(node: onnx.NodeProto) -> onnx.TensorProto | None:
    for attr in node.attribute:
        if attr.name == "value":
            return attr.t
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            value = onnx.helper.get_attribute_value(attr)
            dtype = np.float32 if "float" in attr.name else np.int64
            return numpy_helper.from_array(np.asarray(value, dtype=dtype))
    return None


def const_array(scope: Scope, name: str) -> np.ndarray | None:
    tensor = const_tensor(scope, name)
    if tensor is None:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # external data not loaded, or a type numpy cannot hold: treat as unknown
        return None


def is_constant(scope: Scope, name: str, depth: int = 0) -> bool:
    """Whether ``name`` is fixed at build time: an initializer, a Constant, or a layout op of those."""
    if not name or depth > 16:
        return False
    ref = scope.lookup(name)
    if ref.tensor is not None:
        return True
    node = ref.node
    if node is None or not is_default(node):
        return False
    if node.op_type == "Constant":
        return True
    if node.op_type == "QuantizeLinear":
        return is_constant(scope, node_input(node, 0), depth + 1)
    if node.op_type in _CONSTANT_PASSTHROUGH:
        return all(is_constant(scope, i, depth + 1) for i in node.input if i)
    return False


def elem_type(tensor: onnx.TensorProto | None) -> int | None:
    return tensor.data_type if tensor is not None else None
