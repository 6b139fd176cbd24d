"""Per-node cost of an ONNX graph: FLOPs, MACs and bytes moved, as TensorRT would run it.

Counting rules (every number is for the whole batch):

* FLOPs are 2 per multiply-accumulate for Conv, ConvTranspose, Gemm and MatMul (bias adds are not
  counted, as fvcore and most papers do not); pooling counts one FLOP per window element, reductions one
  per input element, and other pointwise ops a small fixed count per output element (``_PER_ELEMENT``).
* Bytes are weights (constant inputs: initializers, Constant nodes, and anything computed only from them,
  such as a DequantizeLinear of an int8 initializer) plus non-constant input and output activations, every
  tensor at the deployed precision (fp32 4 bytes, fp16 2, int8 1).
* A node's role says how TensorRT runs it:

  - ``compute``: Conv/ConvTranspose/Gemm/MatMul, a kernel of its own;
  - ``layer``: any other op that needs a kernel (pooling, softmax, concat, an unfused add...);
  - ``fused``: a pointwise op folded into the epilogue of an earlier compute layer (fusion rule below);
  - ``free``: no kernel at all: shape ops (Reshape, Flatten, Squeeze...), QuantizeLinear/DequantizeLinear
    (TensorRT fuses them into the neighbouring layers), and nodes whose inputs are all constant (folded at
    build time).

* Fusion rule: a pointwise op (``FUSIBLE``: Relu, Clip, Sigmoid, BatchNormalization, Add, Mul...) is fused
  into the compute layer that produced one of its inputs when every consumer of that tensor is itself
  pointwise and the tensor is not a graph output, so it never has to be written out (Conv+BN+ReLU,
  Conv+Add+ReLU residuals, SiLU's Sigmoid and Mul). A fused node keeps its FLOPs but moves no bytes of its
  own except inputs from outside the fused group (the residual branch of an Add) and its constants; the
  group's output write is counted at the host.
* Precision: a node reading a DequantizeLinear output (a Q/DQ model) runs at int8; others at ``precision``.
* The batch: a dynamic first input dimension is set to ``batch`` before shape inference; a model exported
  with a static batch ``b0`` is inferred as is and its activation costs are scaled by ``batch / b0``. Other
  dynamic dimensions must be fixed at export. Subgraphs (If, Loop) are not counted.

Example::

    costs = graph_cost("model.onnx", batch=1, precision="int8")
    sum(c.flops for c in costs) / 1e9     # GFLOPs
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Literal

import onnx
from onnx import shape_inference

from edgecv.errors import ModelError
from edgecv.onnx_io import load_onnx

Role = Literal["compute", "layer", "fused", "free"]
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}

COMPUTE = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "ConvInteger", "MatMulInteger"})
FREE = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Constant", "Shape", "Size",
    "QuantizeLinear", "DequantizeLinear",
})
FUSIBLE = frozenset({
    "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu",
    "Softplus", "Gelu", "Erf", "Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Abs", "Sqrt",
    "BatchNormalization",
})
_PER_ELEMENT = {  # FLOPs per output element of pointwise and normalization ops
    "Sigmoid": 4, "HardSigmoid": 3, "HardSwish": 4, "Tanh": 4, "Elu": 4, "Selu": 4, "Softplus": 4, "Gelu": 8,
    "Erf": 4, "Exp": 4, "Log": 4, "Mish": 8, "LeakyRelu": 2, "PRelu": 2, "BatchNormalization": 2,
    "InstanceNormalization": 5, "LayerNormalization": 8, "GroupNormalization": 8, "Softmax": 5,
    "LogSoftmax": 5, "Cast": 0, "Transpose": 0, "Concat": 0, "Slice": 0, "Gather": 0, "Pad": 0, "Expand": 0,
    "Tile": 0, "Split": 0,
}
_WINDOW = frozenset({"MaxPool", "AveragePool", "LpPool"})
_REDUCE = frozenset({
    "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax",
    "ArgMin",
})


@dataclass(frozen=True)
class NodeCost:
    """The cost of one ONNX node at a batch size and precision; see the module docstring for the rules."""

    name: str
    op_type: str
    role: Role
    precision: str
    flops: float
    macs: float
    weight_bytes: float
    activation_bytes: float
    fused_into: str | None = None

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.activation_bytes


def _with_batch(model: onnx.ModelProto, batch: int) -> tuple[onnx.ModelProto, float]:
    """A light copy for shape inference, and the factor that scales a static batch.

    Dynamic leading input dims become ``batch``. Large initializers are declared as graph inputs of the same
    type and shape instead of being copied: shape inference only reads the values of small ones (shapes,
    axes), and copying a model's weights dominates the run time otherwise.
    """
    g = model.graph
    light = onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import,
                            functions=model.functions)
    lg = light.graph
    lg.name = g.name
    lg.node.extend(g.node)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    declared = {i.name for i in g.input}
    for t in g.initializer:
        if prod(t.dims) <= 1024:
            lg.initializer.append(t)
        elif t.name not in declared:
            lg.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    inits = {t.name for t in g.initializer}
    scale = 1.0
    for inp in lg.input:
        if inp.name in inits or not inp.type.tensor_type.HasField("shape"):
            continue
        dims = inp.type.tensor_type.shape.dim
        for i, dim in enumerate(dims):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                if i == 0 and dim.dim_value != batch:
                    scale = batch / dim.dim_value
                continue
            if i != 0:
                raise ModelError(
                    f"input '{inp.name}' has dynamic dimension {i} ('{dim.dim_param}'); only the batch may "
                    "be dynamic: export the model with a fixed image size"
                )
            dim.Clear()
            dim.dim_value = batch
    return light, scale


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ModelError(f"ONNX shape inference failed ({exc}); check the model with onnx.checker") from exc
    g = inferred.graph
    shapes: dict[str, tuple[int, ...]] = {t.name: tuple(t.dims) for t in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    for node in g.node:  # Constant nodes may lack value_info
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes.setdefault(node.output[0], tuple(attr.t.dims))
    return shapes


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _flops(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> tuple[float, float]:
    """(FLOPs, MACs) of one node; 0 where a shape is unknown."""
    def numel(name: str) -> int:
        return prod(shapes[name]) if name in shapes else 0

    op, ins, out = node.op_type, [i for i in node.input], node.output[0] if node.output else ""
    if op in ("Conv", "ConvInteger") and len(ins) > 1 and ins[1] in shapes:
        w = shapes[ins[1]]  # (Cout, Cin/groups, *kernel): each output element takes Cin/groups * kernel MACs
        macs = numel(out) * prod(w[1:])
    elif op == "ConvTranspose" and len(ins) > 1 and ins[1] in shapes:
        w = shapes[ins[1]]  # (Cin, Cout/groups, *kernel): each input element feeds Cout/groups * kernel MACs
        macs = numel(ins[0]) * prod(w[1:])
    elif op == "Gemm" and ins[0] in shapes:
        a = shapes[ins[0]]
        macs = numel(out) * (a[0] if _attr(node, "transA", 0) else a[-1])
    elif op in ("MatMul", "MatMulInteger") and ins[0] in shapes:
        macs = numel(out) * shapes[ins[0]][-1]
    elif op in _WINDOW:
        return float(numel(out) * prod(_attr(node, "kernel_shape", [1]))), 0.0
    elif op in _REDUCE:
        return float(numel(ins[0])), 0.0
    elif op in COMPUTE or op in FREE:
        return 0.0, 0.0
    else:
        return float(numel(out) * _PER_ELEMENT.get(op, 1)), 0.0
    return 2.0 * macs, float(macs)


def graph_cost(
    model: onnx.ModelProto | str | Path, batch: int = 1, precision: str = "fp32"
) -> list[NodeCost]:
    """Per-node FLOPs, MACs and bytes of ``model`` at ``batch`` and ``precision``, in graph order."""
    if precision not in BYTES_PER_ELEMENT:
        raise ModelError(f"unknown precision '{precision}': use one of {', '.join(BYTES_PER_ELEMENT)}")
    if batch < 1:
        raise ModelError(f"batch must be at least 1, got {batch}")
    model = load_onnx(model)
    light, scale = _with_batch(model, batch)
    shapes = _shapes(light)
    shapes.update({t.name: tuple(t.dims) for t in model.graph.initializer})
    g = model.graph
    nodes = list(g.node)
    const = {t.name for t in g.initializer}
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        for name in node.input:
            if name:
                consumers[name].append(i)
        for name in node.output:
            producer[name] = i
    graph_outputs = {o.name for o in g.output}
    dq_out: set[str] = set()
    alias: dict[str, str] = {}  # output of a free node -> the tensor it passes through
    group: dict[str, str] = {}  # tensor -> name of the compute layer whose epilogue produces it
    host_precision: dict[str, str] = {}
    names = [n.name or f"{n.op_type}_{i}" for i, n in enumerate(nodes)]

    def root(t: str) -> str:
        while t in alias:
            t = alias[t]
        return t

    def real_consumers(t: str) -> list[int]:
        out: list[int] = []
        for c in consumers.get(t, []):
            if nodes[c].op_type in FREE and nodes[c].output and root(nodes[c].output[0]) == root(t):
                out += real_consumers(nodes[c].output[0])
            else:
                out.append(c)
        return out

    def materialized(t: str) -> bool:
        return t in graph_outputs or any(nodes[c].op_type not in FUSIBLE for c in real_consumers(t))

    costs: list[NodeCost] = []
    for i, node in enumerate(nodes):
        op, ins = node.op_type, [x for x in node.input if x]
        flops, macs = _flops(node, shapes)
        if op == "DequantizeLinear":
            dq_out.update(node.output)
        if any(x in dq_out for x in ins):
            dq_out.update(o for o in node.output if op in FREE)
        prec = "int8" if any(x in dq_out for x in ins) else precision
        if op in ("Shape", "Size") or all(x in const for x in ins):
            const.update(node.output)  # folded by TensorRT at build time
            costs.append(NodeCost(names[i], op, "free", prec, 0.0, 0.0, 0.0, 0.0))
            continue
        variable = [x for x in ins if x not in const]
        if op in FREE:
            if variable and node.output:
                alias[node.output[0]] = variable[0]
                if root(variable[0]) in group:
                    group[node.output[0]] = group[root(variable[0])]
            costs.append(NodeCost(names[i], op, "free", prec, 0.0, 0.0, 0.0, 0.0))
            continue
        eb = BYTES_PER_ELEMENT[prec]

        def size(t: str) -> float:
            return float(prod(shapes[t])) if t in shapes else 0.0

        weights = sum(size(x) for x in ins if x in const) * eb
        host = None
        if op in FUSIBLE:
            chains = [x for x in variable if root(x) in group and not materialized(root(x))]
            if chains:
                chain = max(chains, key=lambda x: producer.get(root(x), -1))
                host = group[root(chain)]
        if host is not None:
            prec = host_precision[host]
            eb = BYTES_PER_ELEMENT[prec]
            weights = sum(size(x) for x in ins if x in const) * eb
            extra = sum(size(x) for x in variable if group.get(root(x)) != host) * eb * scale
            for o in node.output:
                group[o] = host
            costs.append(
                NodeCost(names[i], op, "fused", prec, flops * scale, macs * scale, weights, extra, host)
            )
            continue
        acts = (sum(size(x) for x in variable) + sum(size(o) for o in node.output if o)) * eb * scale
        role: Role = "compute" if op in COMPUTE else "layer"
        if role == "compute":
            host_precision[names[i]] = prec
            for o in node.output:
                group[o] = names[i]
        costs.append(NodeCost(names[i], op, role, prec, flops * scale, macs * scale, weights, acts))
    return costs
