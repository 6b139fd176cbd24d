"""What a static TensorRT check reports: the rule ids, one :class:`Problem`, and a model's :class:`CheckResult`.

Re-exported by :mod:`edgecv.export.tensorrt_rules`, which produces them; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["MODEL_NODE", "RULES", "CheckResult", "Problem", "Severity"]

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
    "resize",
    "plugin",
    "plugin-inputs",
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

    def record(self, limit: int = 10) -> dict[str, object]:
        """What a stage stores of this check: version, verdict, summary and the first ``limit`` problems."""
        problems = [{"rule": p.rule, "node": p.node, "severity": p.severity} for p in self.problems[:limit]]
        return {"tensorrt": self.tensorrt, "ok": self.ok, "summary": self.summary(), "problems": problems}

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
