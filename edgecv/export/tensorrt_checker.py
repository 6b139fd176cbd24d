"""The static TensorRT checker: walks an ONNX model's graphs and applies the opset and operator rules.

It visits every node (also the bodies of ``If``/``Loop``/``Scan`` and of model-local functions), reports the
``opset`` and ``unsupported-op`` rules, hands Q/DQ nodes to :mod:`edgecv.export.tensorrt_qdq` and plugin nodes
(``EfficientNMS_TRT``...) to :mod:`edgecv.export.tensorrt_plugins`. The
public entry points are in :mod:`edgecv.export.tensorrt_rules`.
"""

from __future__ import annotations

import onnx

from edgecv.export.onnx_scope import DEFAULT_DOMAINS, Scope, is_default
from edgecv.export.tensorrt_ops import ParserSpec, parser_spec
from edgecv.export.tensorrt_plugin_inputs import TensorInfo, tensor_types
from edgecv.export.tensorrt_plugins import check_plugin, is_plugin
from edgecv.export.tensorrt_qdq import check_qdq, check_weight_axis
from edgecv.export.tensorrt_resize import check_resize
from edgecv.export.tensorrt_result import MODEL_NODE, Problem, Severity

__all__ = ["Checker"]


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


class Checker:
    """Walks one model (subgraphs and local-function bodies included) and collects its problems.

    Reports the ``opset`` and ``unsupported-op`` rules itself and hands Q/DQ nodes and Conv weights to
    :mod:`edgecv.export.tensorrt_qdq`. Example: ``c = Checker(model, parser_spec(8, 5), None); c.run();
    c.problems``.
    """

    def __init__(self, model: onnx.ModelProto, spec: ParserSpec, max_opset: int | None) -> None:
        self.model = model
        self.spec = spec
        self.max_opset = spec.max_opset if max_opset is None else max_opset
        self.max_opset_from_caller = max_opset is not None
        self.opset = next((imp.version for imp in model.opset_import if imp.domain in DEFAULT_DOMAINS), 0)
        self.functions = {(f.domain, f.name): f for f in model.functions}
        self.problems: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()
        self.labels: dict[int, str] = {}
        self.checked = 0
        self.quantized_nodes: list[tuple[str, str]] = []  # (label, op_type) of quantized Q/DQ nodes
        self._types: dict[str, TensorInfo] | None = None

    # -- reporting

    def add(self, rule: str, node: str, op_type: str, message: str, severity: Severity = "error") -> None:
        if (rule, node) in self._seen:
            return
        self._seen.add((rule, node))
        self.problems.append(Problem(rule, node, op_type, message, severity))

    def label(self, node: onnx.NodeProto) -> str:
        return self.labels.get(id(node)) or node.name or node.op_type

    def tensor_type(self, name: str) -> TensorInfo | None:
        """A tensor's element type and dims (declared, else inferred; read once, when a rule first asks)."""
        if self._types is None:
            self._types = tensor_types(self.model)
        return self._types.get(name)

    # -- traversal

    def run(self) -> None:
        self.check_model_opset()
        graph = self.model.graph
        scope = Scope(
            list(graph.node), list(graph.initializer), [i.name for i in graph.input], None, "", self.labels
        )
        self.walk(scope, stack=())

    def walk(self, scope: Scope, stack: tuple[tuple[str, str], ...]) -> None:
        for node in scope.nodes:
            self.checked += 1
            label = self.label(node)
            self.check_node(node, label, scope, stack)
            for attr in node.attribute:
                graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                for index, sub in enumerate(graphs):
                    suffix = f"[{index}]" if attr.type == onnx.AttributeProto.GRAPHS else ""
                    inputs = [i.name for i in sub.input]
                    child = Scope(
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
        scope = Scope(
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
        self, node: onnx.NodeProto, label: str, scope: Scope, stack: tuple[tuple[str, str], ...]
    ) -> None:
        op = node.op_type
        if not is_default(node):
            self.check_foreign_node(node, label, stack)
            return
        if op not in self.spec.ops:
            if is_plugin(op):  # the parser's plugin fallback imports it if this TensorRT ships the plugin
                check_plugin(self, node, label)
                return
            self.add("unsupported-op", label, op, self.unsupported_message(op))
            return
        if op in ("QuantizeLinear", "DequantizeLinear"):
            check_qdq(self, node, label, scope)
        elif op in ("Conv", "ConvTranspose"):
            check_weight_axis(self, node, scope)
        elif op == "Resize":
            check_resize(self, node, label)

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
        if is_plugin(op) and op not in self.spec.ops:  # a plugin under a custom domain ("TRT"): the parser
            check_plugin(self, node, label)  # dispatches on the op type alone
            return
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

