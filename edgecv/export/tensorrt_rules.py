"""Static checks that an ONNX model will parse, and quantize, in a given TensorRT version (no GPU needed).

The checks read the graph node by node (also the bodies of ``If``/``Loop``/``Scan`` and of model-local
functions) and report each :class:`Problem` with a stable rule id, the node, and a message that says the fix:

=============================== ==========================================================================
rule                            what it catches
=============================== ==========================================================================
``opset``                       model opset above the parser's highest (or below its lowest); per-channel
                                Q/DQ (the ``axis`` attribute) in a model below opset 13
``unsupported-op``              an op type the version's ONNX parser has no importer for (tables in
                                :mod:`edgecv.export.tensorrt_ops`), or any non-standard domain
                                (``com.microsoft`` ``QLinearConv``, ``QGemm``, ``FusedConv``...)
``qdq-uint8``                   Q/DQ with a uint8 zero point: TensorRT's quantization is signed
``qdq-dtype``                   Q/DQ in another type the version does not take (FP8 before 9.0, INT4
                                before 10.0, FP4 before 10.8, int16, FP8 E5M2...)
``qdq-zero-point``              a zero point that is not all 0 (TensorRT quantization is symmetric)
``qdq-per-channel-activation``  a QuantizeLinear on an activation with a non-scalar scale
``qdq-bias-int32``              a DequantizeLinear of an int32 initializer (a pre-quantized bias)
``qdq-weight-per-channel-axis`` per-channel weight scales not on the output-channel axis (0 for Conv, 1
                                for ConvTranspose); a warning
``qdq-scale``                   scales that are not finite and > 0
``precision``                   (device checks) quantized Q/DQ nodes for a device without ``int8``
=============================== ==========================================================================

The Q/DQ rules follow the TensorRT developer guide. "Working with Quantized Types" says the scheme is
symmetric and quantized values are signed INT8 (or FP8/INT4/FP4 where supported):
https://docs.nvidia.com/deeplearning/tensorrt/10.11.0/inference-library/work-quantized-types.html
and its "Explicit Quantization" section describes Q/DQ models (activations per-tensor; weights per-tensor or
per-channel along the output-channel axis, K of Conv's KCRS weights and axis 1 of ConvTranspose's CKRS
weights; weights float, or pre-quantized INT8/FP8/INT4/FP4 behind a DequantizeLinear):
https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html
onnx-tensorrt's operators.md adds the parser's restrictions: ``QuantizeLinear`` "`y_zero_point` must be 0",
``DequantizeLinear`` "`x_zero_point` must be zero", types INT8 (8.x) and INT8/FP8/FP4/INT4 (10.x).

Example::

    from edgecv.export.tensorrt_rules import check_onnx_for_tensorrt
    result = check_onnx_for_tensorrt("resnet18_int8.onnx", "8.5.2")
    result.ok                 # False
    result.summary()          # "2 problems for TensorRT 8.5.2: first [qdq-uint8] node 'input_q' ..."
    [p.rule for p in result.problems]   # ["qdq-uint8", "qdq-zero-point"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import onnx
from onnx import numpy_helper

from edgecv.errors import ModelError, UnsupportedError
from edgecv.export.tensorrt_ops import KNOWN_VERSIONS, ParserSpec, parser_spec

if TYPE_CHECKING:
    from edgecv.devices import DeviceProfile

__all__ = [
    "RULES",
    "CheckResult",
    "Problem",
    "check_for_device",
    "check_onnx_for_tensorrt",
    "resolve_tensorrt",
]

RULES: tuple[str, ...] = (
    "opset",
    "unsupported-op",
    "qdq-uint8",
    "qdq-dtype",
    "qdq-zero-point",
    "qdq-per-channel-activation",
    "qdq-bias-int32",
    "qdq-weight-per-channel-axis",
    "qdq-scale",
    "precision",
)
"""Every rule id a :class:`Problem` can carry."""

MODEL_NODE = "(model)"
"""The ``node`` of problems about the model as a whole (its opset)."""

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One reason the model would fail (``error``) or misbehave (``warning``) in TensorRT.

    Example: ``Problem("qdq-uint8", "input_q", "QuantizeLinear", "zero point is uint8 ...; re-quantize")``.
    """

    rule: str
    """A stable id from :data:`RULES`."""
    node: str
    """The node's name (``"<op_type>#<index>"`` when unnamed, prefixed by its subgraph), or ``"(model)"``."""
    op_type: str
    message: str
    """What is wrong and how to fix it."""
    severity: Severity = "error"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one model against one TensorRT version.

    Example::

        result = check_onnx_for_tensorrt(model, "10.3")
        if not result.ok:
            raise SystemExit(result.summary())
    """

    tensorrt: str
    """The TensorRT version asked for, as given (``"8.5.2"``)."""
    opset: int
    """The model's default-domain (``ai.onnx``) opset; 0 when it declares none."""
    problems: list[Problem] = field(default_factory=list)
    checked_nodes: int = 0
    """Nodes checked, subgraph and local-function bodies included."""

    @property
    def ok(self) -> bool:
        """True when no problem is an error (warnings do not fail a check)."""
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the check fail."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems worth fixing that do not fail the check."""
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        """One line: that the model passes, or how many problems and the first one's rule, node and fix."""
        warnings = self.warnings
        if self.ok:
            line = f"passes TensorRT {self.tensorrt} checks (opset {self.opset}, {self.checked_nodes} nodes)"
            if warnings:
                first = warnings[0]
                line += f" with {_plural(len(warnings), 'warning')}; first [{first.rule}] node '{first.node}'"
            return line
        errors = self.errors
        first = errors[0]
        return (
            f"{_plural(len(errors), 'problem')} for TensorRT {self.tensorrt}: first [{first.rule}] node "
            f"'{first.node}' ({first.op_type or 'model'}): {first.message}"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ----------------------------------------------------------------------------------------------------
# Versions


_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.\d+)*\s*$")


def resolve_tensorrt(version: str) -> ParserSpec:
    """The parser table for a TensorRT version string (``"8.5"``, ``"8.5.2"``, ``"10.3.0.30"``, ``"11.0"``).

    Example: ``resolve_tensorrt("10.3.0.30").max_opset`` is 20. Raises UnsupportedError for versions without a
    table, naming those known.
    """
    known = ", ".join(KNOWN_VERSIONS)
    match = _VERSION_RE.match(str(version))
    if not match:
        raise UnsupportedError(
            f"TensorRT version '{version}' is not MAJOR.MINOR[.PATCH[.BUILD]]; give one such as '8.5.2' "
            f"or '10.3' (known: {known})"
        )
    spec = parser_spec(int(match.group(1)), int(match.group(2)))
    if spec is None:
        raise UnsupportedError(
            f"no ONNX-parser table for TensorRT {version}; known versions: {known}. Check against one of "
            "them, or add the version's onnx-tensorrt operators.md to edgecv/export/tensorrt_ops.py"
        )
    return spec


# ----------------------------------------------------------------------------------------------------
# Graph access


_DEFAULT_DOMAINS = ("", "ai.onnx")
_TP = onnx.TensorProto
_QUANT_TYPE_NAMES: dict[int, str] = {
    _TP.INT8: "int8",
    _TP.UINT8: "uint8",
    _TP.INT16: "int16",
    _TP.UINT16: "uint16",
    _TP.INT32: "int32",
}
for _attr, _name in (
    ("FLOAT8E4M3FN", "fp8"),
    ("FLOAT8E4M3FNUZ", "fp8-e4m3fnuz"),
    ("FLOAT8E5M2", "fp8-e5m2"),
    ("FLOAT8E5M2FNUZ", "fp8-e5m2fnuz"),
    ("INT4", "int4"),
    ("UINT4", "uint4"),
    ("FLOAT4E2M1", "fp4"),
):
    if hasattr(_TP, _attr):
        _QUANT_TYPE_NAMES[getattr(_TP, _attr)] = _name
_QUANT_TYPE_LABELS = {"int8": "INT8", "fp8": "FP8 (E4M3FN)", "int4": "INT4", "fp4": "FP4 (E2M1)"}

# Ops that keep a constant constant: a weight behind them is still a weight, not an activation.
_CONSTANT_PASSTHROUGH = frozenset(
    {"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "DequantizeLinear"}
)


@dataclass(frozen=True)
class _Ref:
    kind: Literal["init", "node", "input", "unknown"]
    tensor: onnx.TensorProto | None = None
    node: onnx.NodeProto | None = None


class _Scope:
    """Names visible to the nodes of one graph (or function body), falling back to the enclosing scopes."""

    def __init__(
        self,
        nodes: list[onnx.NodeProto],
        initializers: list[onnx.TensorProto],
        inputs: list[str],
        parent: _Scope | None,
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

    def lookup(self, name: str) -> _Ref:
        """What ``name`` is here: an initializer, a node's output, a (sub)graph input, or unknown."""
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.initializers:
                return _Ref("init", tensor=scope.initializers[name])
            if name in scope.producers:
                return _Ref("node", node=scope.producers[name])
            if name in scope.inputs:
                return _Ref("input")
            scope = scope.parent
        return _Ref("unknown")


def _attr_int(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name and attr.type == onnx.AttributeProto.INT:
            return int(attr.i)
    return default


def _input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _is_default(node: onnx.NodeProto) -> bool:
    return node.domain in _DEFAULT_DOMAINS


def _const_tensor(scope: _Scope, name: str, depth: int = 0) -> onnx.TensorProto | None:
    """The TensorProto behind ``name``: an initializer, a Constant's value, or an Identity of one."""
    if not name or depth > 8:
        return None
    ref = scope.lookup(name)
    if ref.tensor is not None:
        return ref.tensor
    node = ref.node
    if node is not None and _is_default(node):
        if node.op_type == "Constant":
            return _constant_value(node)
        if node.op_type == "Identity":
            return _const_tensor(scope, _input(node, 0), depth + 1)
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


def _const_array(scope: _Scope, name: str) -> np.ndarray | None:
    tensor = _const_tensor(scope, name)
    if tensor is None:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # external data not loaded, or a type numpy cannot hold: treat as unknown
        return None


def _is_constant(scope: _Scope, name: str, depth: int = 0) -> bool:
    """Whether ``name`` is fixed at build time: an initializer, a Constant, or a layout op of those."""
    if not name or depth > 16:
        return False
    ref = scope.lookup(name)
    if ref.tensor is not None:
        return True
    node = ref.node
    if node is None or not _is_default(node):
        return False
    if node.op_type == "Constant":
        return True
    if node.op_type == "QuantizeLinear":
        return _is_constant(scope, _input(node, 0), depth + 1)
    if node.op_type in _CONSTANT_PASSTHROUGH:
        return all(_is_constant(scope, i, depth + 1) for i in node.input if i)
    return False


def _elem_type(tensor: onnx.TensorProto | None) -> int | None:
    return tensor.data_type if tensor is not None else None


def _fmt_values(values: np.ndarray, limit: int = 4) -> str:
    flat = values.reshape(-1)
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in flat[:limit].tolist())
    return f"[{shown}{', ...' if flat.size > limit else ''}]"


# ----------------------------------------------------------------------------------------------------
# The checker


_QOPERATOR_OPS = frozenset(
    {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QGemm"}
)
_TABLE_ORDER: tuple[tuple[str, int, int], ...] = (
    ("8.2", 8, 2),
    ("8.4", 8, 4),
    ("8.5", 8, 5),
    ("8.6", 8, 6),
    *((f"10.{m}", 10, m) for m in range(16)),
)


def _first_version_with(op_type: str, after: ParserSpec) -> str | None:
    """The first known TensorRT version after ``after`` whose parser imports ``op_type``."""
    after_key = tuple(int(p) for p in after.version.split("."))
    for label, major, minor in _TABLE_ORDER:
        if (major, minor) <= after_key + (0,) * (2 - len(after_key)):
            continue
        spec = parser_spec(major, minor)
        if spec is not None and op_type in spec.ops:
            return label
    return None


class _Checker:
    def __init__(self, model: onnx.ModelProto, spec: ParserSpec, max_opset: int | None) -> None:
        self.model = model
        self.spec = spec
        self.max_opset = spec.max_opset if max_opset is None else max_opset
        self.max_opset_from_caller = max_opset is not None
        self.opset = next((imp.version for imp in model.opset_import if imp.domain in _DEFAULT_DOMAINS), 0)
        self.functions = {(f.domain, f.name): f for f in model.functions}
        self.problems: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()
        self.labels: dict[int, str] = {}
        self.checked = 0
        self.quantized_nodes: list[tuple[str, str]] = []  # (label, op_type) of quantized Q/DQ nodes

    # -- reporting

    def add(self, rule: str, node: str, op_type: str, message: str, severity: Severity = "error") -> None:
        if (rule, node) in self._seen:
            return
        self._seen.add((rule, node))
        self.problems.append(Problem(rule, node, op_type, message, severity))

    def label(self, node: onnx.NodeProto) -> str:
        return self.labels.get(id(node)) or node.name or node.op_type

    # -- traversal

    def run(self) -> None:
        self.check_model_opset()
        graph = self.model.graph
        scope = _Scope(
            list(graph.node), list(graph.initializer), [i.name for i in graph.input], None, "", self.labels
        )
        self.walk(scope, stack=())

    def walk(self, scope: _Scope, stack: tuple[tuple[str, str], ...]) -> None:
        for node in scope.nodes:
            self.checked += 1
            label = self.label(node)
            self.check_node(node, label, scope, stack)
            for attr in node.attribute:
                graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                for index, sub in enumerate(graphs):
                    suffix = f"[{index}]" if attr.type == onnx.AttributeProto.GRAPHS else ""
                    inputs = [i.name for i in sub.input]
                    child = _Scope(
                        list(sub.node),
                        list(sub.initializer),
                        inputs,
                        scope,
                        f"{label}/{attr.name}{suffix}/",
                        self.labels,
                    )
                    self.walk(child, stack)

    def walk_function(self, node: onnx.NodeProto, label: str, stack: tuple[tuple[str, str], ...]) -> None:
        key = (node.domain, node.op_type)
        if key in stack:
            return
        function = self.functions[key]
        scope = _Scope(
            list(function.node), [], list(function.input), None, f"{label}/{function.name}/", self.labels
        )
        self.walk(scope, (*stack, key))

    # -- rules

    def check_model_opset(self) -> None:
        spec, opset = self.spec, self.opset
        where = (
            "for this device"
            if self.max_opset_from_caller
            else f"the TensorRT {spec.version} ONNX parser reads"
        )
        if opset == 0:
            self.add(
                "opset",
                MODEL_NODE,
                "",
                "the model declares no default-domain (ai.onnx) opset; re-export it with an explicit "
                "opset_version",
            )
        elif opset > self.max_opset:
            self.add(
                "opset",
                MODEL_NODE,
                "",
                f"model opset {opset} is above {self.max_opset}, the highest {where}; re-export with "
                f"opset_version={self.max_opset} or run onnx.version_converter.convert_version(model, "
                f"{self.max_opset})",
            )
        elif opset < spec.min_opset:
            self.add(
                "opset",
                MODEL_NODE,
                "",
                f"model opset {opset} is below {spec.min_opset}, the oldest the TensorRT {spec.version} "
                f"parser reads; re-export with opset_version between 13 and {self.max_opset}",
            )

    def check_node(
        self, node: onnx.NodeProto, label: str, scope: _Scope, stack: tuple[tuple[str, str], ...]
    ) -> None:
        op = node.op_type
        if not _is_default(node):
            self.check_foreign_node(node, label, stack)
            return
        if op not in self.spec.ops:
            if op.endswith("_TRT"):
                return  # a TensorRT plugin (EfficientNMS_TRT...) that the parser's plugin fallback imports
            self.add("unsupported-op", label, op, self.unsupported_message(op))
            return
        if op in ("QuantizeLinear", "DequantizeLinear"):
            self.check_qdq(node, label, scope)
        elif op in ("Conv", "ConvTranspose"):
            self.check_weight_axis(node, scope)

    def check_foreign_node(
        self, node: onnx.NodeProto, label: str, stack: tuple[tuple[str, str], ...]
    ) -> None:
        op, domain = node.op_type, node.domain
        if (domain, op) in self.functions:
            if self.spec.local_functions:
                self.walk_function(node, label, stack)
            else:
                self.add(
                    "unsupported-op",
                    label,
                    op,
                    f"'{domain}.{op}' is a model-local function, which the TensorRT {self.spec.version} "
                    "parser cannot import (9.0 and later can); inline it with "
                    "onnx.inliner.inline_local_functions(model)",
                )
            return
        if op.endswith("_TRT"):
            return  # a TensorRT plugin under a custom domain ("trt.plugins")
        if domain == "com.microsoft":
            fix = (
                "quantize in QDQ format (QuantizeLinear/DequantizeLinear, symmetric int8) instead of "
                "ONNX Runtime's QOperator format"
                if op.startswith("Q") or op in _QOPERATOR_OPS
                else "export without ONNX Runtime graph optimizations/fusions (they create FusedConv, "
                "FusedGemm...) and use standard ONNX ops"
            )
            self.add(
                "unsupported-op",
                label,
                op,
                f"com.microsoft.{op} is an ONNX Runtime contrib op that TensorRT cannot parse; {fix}",
            )
            return
        self.add(
            "unsupported-op",
            label,
            op,
            f"op domain '{domain}' is not standard ONNX and TensorRT parses only the default domain and "
            f"its plugins; replace '{op}' with standard ops or register a TensorRT plugin named '{op}'",
        )

    def unsupported_message(self, op: str) -> str:
        spec = self.spec
        if op in _QOPERATOR_OPS:
            return (
                f"{op} is ONNX Runtime's QOperator-format quantization, which TensorRT does not parse; "
                "quantize in QDQ format (QuantizeLinear/DequantizeLinear pairs, symmetric int8) instead"
            )
        later = _first_version_with(op, spec)
        hint = (
            f"TensorRT {later} and later parse it: target a newer TensorRT, or rewrite it with supported ops "
            "before export"
            if later
            else "rewrite it with supported ops before export, or provide a TensorRT plugin for it"
        )
        return f"{op} is not supported by the TensorRT {spec.version} ONNX parser ({spec.source}); {hint}"

    def check_qdq(self, node: onnx.NodeProto, label: str, scope: _Scope) -> None:
        op, spec = node.op_type, self.spec
        is_q = op == "QuantizeLinear"
        x_name, scale_name, zp_name = _input(node, 0), _input(node, 1), _input(node, 2)
        x_tensor = None if is_q else _const_tensor(scope, x_name)

        if not is_q and _elem_type(x_tensor) == _TP.INT32:
            self.add(
                "qdq-bias-int32",
                label,
                op,
                f"DequantizeLinear of the int32 initializer '{x_name}' (a quantized bias): TensorRT "
                "rejects int32 Q/DQ; keep the bias in float32 and feed it to the Conv/Gemm directly",
            )
            return

        zp_tensor = _const_tensor(scope, zp_name) if zp_name else None
        qtype = _elem_type(zp_tensor) or _elem_type(x_tensor)
        if qtype is None and is_q:
            qtype = _attr_int(node, "output_dtype", 0) or None
        qname = _QUANT_TYPE_NAMES.get(qtype, onnx.TensorProto.DataType.Name(qtype)) if qtype else None
        if qname == "uint8":
            self.add(
                "qdq-uint8",
                label,
                op,
                "zero point is uint8 (asymmetric, ONNX Runtime CPU style) but TensorRT quantizes to signed "
                "int8 with zero point 0; re-quantize with int8 activations and weights and symmetric scales "
                "(the 'tensorrt' quantization scheme)",
            )
        elif qname is not None and qname not in spec.quant_types:
            accepted = ", ".join(_QUANT_TYPE_LABELS[t] for t in sorted(spec.quant_types))
            label_name = _QUANT_TYPE_LABELS.get(qname, qname.upper())
            newer = {"fp8": "9.0", "int4": "10.0", "fp4": "10.8"}.get(qname)
            where = f"TensorRT {newer} and later take it; " if newer else ""
            self.add(
                "qdq-dtype",
                label,
                op,
                f"{label_name} Q/DQ is not accepted by TensorRT {spec.version} (it takes {accepted}); "
                f"{where}quantize to signed int8 with symmetric scales",
            )
        if qname in ("int8", "fp8", "int4", "fp4"):
            self.quantized_nodes.append((label, op))

        if zp_name:
            zp = _const_array(scope, zp_name)
            if zp_tensor is None:
                self.add(
                    "qdq-zero-point",
                    label,
                    op,
                    f"zero point '{zp_name}' is computed at run time; TensorRT needs a constant zero point "
                    "of 0: make it an initializer of zeros (symmetric quantization)",
                )
            elif zp is not None and np.any(zp.astype(np.float64) != 0):
                self.add(
                    "qdq-zero-point",
                    label,
                    op,
                    f"zero point is {_fmt_values(zp)} but TensorRT supports only symmetric quantization "
                    "(zero point 0); re-quantize with symmetric scales and a zero point of 0",
                )

        scale = _const_array(scope, scale_name)
        if scale is None:
            return
        values = scale.astype(np.float64)
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            self.add(
                "qdq-scale",
                label,
                op,
                f"scale '{scale_name}' has {int(bad.sum())} non-finite or non-positive values "
                f"(e.g. {_fmt_values(values[bad])}); TensorRT needs finite scales > 0: recalibrate, or give "
                "constant (all-zero) channels a small positive scale",
            )
        if scale.size > 1:
            if 0 < self.opset < 13:
                self.add(
                    "opset",
                    label,
                    op,
                    "per-channel scales (the axis attribute) need opset 13 but the model is opset "
                    f"{self.opset}; re-export with opset_version >= 13",
                )
            if is_q and not _is_constant(scope, x_name):
                self.add(
                    "qdq-per-channel-activation",
                    label,
                    op,
                    f"per-channel scale ({scale.size} values) on activation '{x_name}': TensorRT quantizes "
                    "activations per-tensor only; use a scalar scale (per-channel scales are for weights)",
                )

    def check_weight_axis(self, node: onnx.NodeProto, scope: _Scope) -> None:
        expected = 0 if node.op_type == "Conv" else 1
        producer = scope.lookup(_input(node, 1)).node
        if producer is None or producer.op_type != "DequantizeLinear" or not _is_default(producer):
            return
        chain = [producer]
        weight_name = _input(producer, 0)
        quant = scope.lookup(weight_name).node
        if quant is not None and quant.op_type == "QuantizeLinear" and _is_default(quant):
            chain.append(quant)
            weight_name = _input(quant, 0)
        weight = _const_tensor(scope, weight_name)
        rank = len(weight.dims) if weight is not None else None
        for qdq in chain:
            scale = _const_array(scope, _input(qdq, 1))
            if scale is None or scale.size <= 1:
                continue
            axis = _attr_int(qdq, "axis", 1)
            if axis < 0 and rank:
                axis += rank
            if axis != expected:
                self.add(
                    "qdq-weight-per-channel-axis",
                    self.label(qdq),
                    qdq.op_type,
                    f"per-channel scale of {node.op_type} weight '{weight_name}' is on axis {axis}, but "
                    f"TensorRT expects the output-channel axis {expected} for {node.op_type} weights; "
                    f"quantize the weights with axis={expected}",
                    severity="warning",
                )


def _load(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    path = Path(model)
    if not path.is_file():
        raise ModelError(f"ONNX file '{path}' does not exist; give the path of an exported .onnx model")
    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"'{path}' is not a readable ONNX model ({exc}); re-export it") from exc


def _check(
    model: onnx.ModelProto | str | Path,
    tensorrt_version: str,
    max_opset: int | None,
    precisions: list[str] | None = None,
    device_name: str = "",
) -> CheckResult:
    spec = resolve_tensorrt(tensorrt_version)
    checker = _Checker(_load(model), spec, max_opset)
    checker.run()
    if precisions is not None and "int8" not in precisions and checker.quantized_nodes:
        label, op = checker.quantized_nodes[0]
        checker.add(
            "precision",
            label,
            op,
            f"the model has {len(checker.quantized_nodes)} quantized Q/DQ nodes but device '{device_name}' "
            f"runs only {', '.join(precisions)}; export it without quantization (fp16/fp32) for this device",
        )
    return CheckResult(
        tensorrt=str(tensorrt_version),
        opset=checker.opset,
        problems=checker.problems,
        checked_nodes=checker.checked,
    )


def check_onnx_for_tensorrt(
    model: onnx.ModelProto | str | Path, tensorrt_version: str, *, max_opset: int | None = None
) -> CheckResult:
    """Check that ``model`` parses (and its Q/DQ quantization builds) in TensorRT ``tensorrt_version``.

    ``max_opset`` replaces the highest opset of the version's table (a device profile's ``max_onnx_opset``).

    Example::

        result = check_onnx_for_tensorrt("model.onnx", "8.5.2")
        result.ok, result.summary()
        # (False, "1 problem for TensorRT 8.5.2: first [opset] node '(model)' (model): model opset 18 ...")
    """
    return _check(model, tensorrt_version, max_opset)


def check_for_device(model: onnx.ModelProto | str | Path, device: DeviceProfile) -> CheckResult:
    """Check ``model`` against a device's TensorRT (``device.software.tensorrt`` and ``.max_onnx_opset``).

    The profile's ``max_onnx_opset``, when the profile sets it, replaces the table's highest opset.

    Also flags quantized Q/DQ nodes when the device's ``precisions`` has no ``int8``. Raises UnsupportedError
    for a device that does not deploy with TensorRT.

    Example::

        from edgecv.devices import load_device
        check_for_device("model.onnx", load_device("jetson-orin-nano-8gb")).summary()
    """
    if device.runtime != "tensorrt" or not device.software.tensorrt:
        raise UnsupportedError(
            f"device '{device.name}' deploys with {device.runtime}"
            f"{'' if device.software.tensorrt else ' and its profile names no TensorRT version'}; TensorRT "
            "checks apply only to TensorRT devices: set runtime: tensorrt and software.tensorrt in the "
            "profile"
        )
    # A profile that leaves max_onnx_opset at its default (17) says nothing about the opset: use the table's.
    software = device.software
    max_opset = software.max_onnx_opset if "max_onnx_opset" in software.model_fields_set else None
    return _check(
        model, software.tensorrt, max_opset, precisions=list(device.precisions), device_name=device.name
    )
