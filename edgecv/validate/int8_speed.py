"""Say so when an INT8 artifact is not faster than the FP32 model it came from, and why (which ops stayed float).

For each INT8 (or mixed) ONNX artifact whose latency was measured here (ONNX Runtime), the reference is the FP32
ONNX export of the same source model (same ``parent``; else the last FP32 ONNX validated on that device), measured
on the same device in the same validate stage. At each batch size where the INT8 artifact is not faster (FP32 p50 /
INT8 p50 <= 1), a note names the ratio and the cause, read from the graph ONNX Runtime actually executes
(:func:`edgecv.quantize.onnx_graph.ort_fusion`): the convs that stayed float, the other float ops, the Q/DQ and
layout ops around them, and int8 convs with uint8 weights (ONNX Runtime's slower u8u8 kernels), with the setting
that runs the faster ones. The report then recommends the FP32 reference, not the slower INT8 artifact.

Example::

    notes = int8_speed_notes(validations, artifacts)
    notes[0].text   # "int8-ort-cpu is not faster than pruned-onnx on host-cpu at batch 32 (0.76x: 2.07 vs ..."
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from edgecv.artifacts import ModelArtifact, StageResult
    from edgecv.report.schema import Validation

QUANTIZED = ("int8", "mixed")
MEASURED = ("measured",)
"""Latency measured here through ONNX Runtime: the runtime whose optimized graph explains the cause."""


class Int8SpeedNote(BaseModel):
    """One INT8 artifact on one device that is not faster than its FP32 reference at some measured batch size."""

    artifact: str
    reference: str
    device: str
    speedup: dict[str, float]
    """Batch size -> FP32 p50 / INT8 p50 (above 1 means INT8 is faster), for every batch both measured."""
    latency_ms: dict[str, dict[str, float]]
    """Batch size -> {"int8": p50, "fp32": p50}."""
    not_faster: list[int]
    cause: str
    float_ops: dict[str, int] = {}
    convs: int | None = None
    float_convs: int | None = None
    text: str


def _p50(v: Validation) -> dict[int, float]:
    return {r.batch: r.p50_ms for r in v.latency if r.measured and r.p50_ms > 0}


def reference_for(v: Validation, by_name: dict[str, ModelArtifact], on_device: list[Validation]) -> Validation | None:
    """The FP32 ONNX validation on the same device that ``v``'s artifact came from (see the module docstring)."""
    mine = by_name.get(v.artifact)
    fp32 = [w for w in on_device if w.precision == "fp32" and w.artifact in by_name
            and by_name[w.artifact].format == "onnx" and w.latency_source in MEASURED]
    same = [w for w in fp32 if mine is not None and mine.parent and by_name[w.artifact].parent == mine.parent]
    chosen = same or [w for w in fp32 if on_device.index(w) < on_device.index(v)] or fp32
    return chosen[-1] if chosen else None


def float_cause(path: str | Path | None) -> tuple[str, dict[str, Any]]:
    """What ONNX Runtime left in float in ``path``'s optimized graph, as one sentence and its counts."""
    if not path or not Path(path).is_file():
        return "the ONNX file is gone, so which ops stayed float is unknown", {}
    from edgecv.quantize.onnx_graph import ort_fusion

    try:
        fusion = ort_fusion(path)
    except Exception as exc:  # a note must never fail validation
        return f"ONNX Runtime's optimized graph could not be read ({type(exc).__name__}: {exc})", {}
    others = {op: n for op, n in fusion["float_ops"].items() if op not in ("Conv", "FusedConv", "NchwcConv")}
    if not fusion["float_convs"] and not others:
        cause = (f"all {fusion['convs']} convs ran as QLinearConv and no op stayed float in the graph ONNX Runtime "
                 f"executes ({fusion['qdq']} QuantizeLinear/DequantizeLinear, {fusion['layout']} layout ops)")
        return cause + (_uint8_weights(fusion) or ": the int8 kernels themselves are not faster for layers this "
                        "small"), fusion
    parts = [f"{fusion['float_convs']} of {fusion['convs']} convs stayed float in the graph ONNX Runtime executes"]
    if others:
        parts.append("float " + ", ".join(f"{op} x{n}" for op, n in list(others.items())[:6]))
    parts.append(f"{fusion['qdq']} QuantizeLinear/DequantizeLinear and {fusion['layout']} layout ops (Transpose, "
                 "NCHWc reorders) run between them")
    names = fusion.get("float_conv_names") or []
    if names:
        parts.append("float convs: " + ", ".join(names[:4]) + (", ..." if len(names) > 4 else ""))
    return "; ".join(parts) + _uint8_weights(fusion), fusion


def _uint8_weights(fusion: dict[str, Any]) -> str:
    """The clause naming uint8 weights as a cause (empty when no int8 conv has them)."""
    count = fusion.get("uint8_weight_convs", 0)
    if not count:
        return ""
    return (f"; {count} of its {fusion.get('QLinearConv', count)} int8 convs have uint8 weights, whose u8u8 kernels "
            "are slower than u8s8 on x86 (edgecv stores them where a CPU's u8s8 sums saturate: "
            "edgecv.quantize.cpu_isa); quantize.weight_type: int8 runs the u8s8 kernels with 7-bit weights, and "
            "fastest (with max_accuracy_drop) does where the selection split finds them within budget")


def int8_speed_notes(validations: list[Validation], artifacts: list[ModelArtifact]) -> list[Int8SpeedNote]:
    """A note for each measured INT8 validation not faster than its FP32 reference at some batch size."""
    by_name = {a.name: a for a in artifacts}
    notes = []
    for v in validations:
        if v.precision not in QUANTIZED or v.latency_source not in MEASURED:
            continue
        on_device = [w for w in validations if w.device == v.device]
        ref = reference_for(v, by_name, on_device)
        if ref is None:
            continue
        mine, theirs = _p50(v), _p50(ref)
        batches = sorted(set(mine) & set(theirs))
        speedup = {str(b): round(theirs[b] / mine[b], 3) for b in batches}
        slow = [b for b in batches if theirs[b] <= mine[b]]
        if not slow:
            continue
        artifact = by_name.get(v.artifact)
        cause, fusion = float_cause(artifact.path if artifact else None)
        where = ", ".join(f"batch {b} ({speedup[str(b)]:.2f}x: {mine[b]:.3f} vs {theirs[b]:.3f} ms)" for b in slow)
        text = (f"{v.artifact} is not faster than {ref.artifact}, the FP32 model it came from, on {v.device} at "
                f"{where}: {cause}. The report does not recommend {v.artifact} over {ref.artifact} there.")
        notes.append(Int8SpeedNote(
            artifact=v.artifact, reference=ref.artifact, device=v.device, speedup=speedup,
            latency_ms={str(b): {"int8": round(mine[b], 4), "fp32": round(theirs[b], 4)} for b in batches},
            not_faster=slow, cause=cause, float_ops=fusion.get("float_ops", {}), convs=fusion.get("convs"),
            float_convs=fusion.get("float_convs"), text=text,
        ))
    return notes


def add_int8_speed_notes(result: StageResult, validations: list[Validation], artifacts: list[ModelArtifact]) -> None:
    """Record the notes in a validate StageResult: ``metrics["int8_not_faster"]`` and one warning each."""
    notes = int8_speed_notes(validations, artifacts)
    result.metrics["int8_not_faster"] = [n.model_dump() for n in notes]
    result.warnings.extend(n.text for n in notes)
