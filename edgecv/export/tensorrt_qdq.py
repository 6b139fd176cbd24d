"""The Q/DQ rules of the static TensorRT checks: types, zero points, scales and per-channel axes.

Each function checks one node for :class:`~edgecv.export.tensorrt_checker.Checker` and reports through its
``add``. The rules and their sources (the TensorRT developer guide's "Working with Quantized Types" and
"Explicit Quantization", onnx-tensorrt's operators.md) are listed in :mod:`edgecv.export.tensorrt_rules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx

from edgecv.export.onnx_scope import (
    attr_int,
    const_array,
    const_tensor,
    elem_type,
    is_constant,
    is_default,
    node_input,
)

if TYPE_CHECKING:
    from edgecv.export.onnx_scope import Scope
    from edgecv.export.tensorrt_checker import Checker

__all__ = ["check_qdq", "check_weight_axis"]

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


def _fmt_values(values: np.ndarray, limit: int = 4) -> str:
    flat = values.reshape(-1)
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in flat[:limit].tolist())
    return f"[{shown}{', ...' if flat.size > limit else ''}]"


def check_qdq(checker: Checker, node: onnx.NodeProto, label: str, scope: Scope) -> None:
    """The Q/DQ rules for one QuantizeLinear/DequantizeLinear ``node``, reported to ``checker``."""
    op, spec = node.op_type, checker.spec
    is_q = op == "QuantizeLinear"
    x_name, scale_name, zp_name = node_input(node, 0), node_input(node, 1), node_input(node, 2)
    x_tensor = None if is_q else const_tensor(scope, x_name)

    if not is_q and elem_type(x_tensor) == _TP.INT32:
        checker.add(
            "qdq-bias-int32",
            label,
            op,
            f"DequantizeLinear of the int32 initializer '{x_name}' (a quantized bias): TensorRT "
            "rejects int32 Q/DQ; keep the bias in float32 and feed it to the Conv/Gemm directly",
        )
        return

    zp_tensor = const_tensor(scope, zp_name) if zp_name else None
    qtype = elem_type(zp_tensor) or elem_type(x_tensor)
    if qtype is None and is_q:
        qtype = attr_int(node, "output_dtype", 0) or None
    qname = _QUANT_TYPE_NAMES.get(qtype, onnx.TensorProto.DataType.Name(qtype)) if qtype else None
    if qname == "uint8":
        checker.add(
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
        checker.add(
            "qdq-dtype",
            label,
            op,
            f"{label_name} Q/DQ is not accepted by TensorRT {spec.version} (it takes {accepted}); "
            f"{where}quantize to signed int8 with symmetric scales",
        )
    if qname in ("int8", "fp8", "int4", "fp4"):
        checker.quantized_nodes.append((label, op))

    if zp_name:
        zp = const_array(scope, zp_name)
        if zp_tensor is None:
            checker.add(
                "qdq-zero-point",
                label,
                op,
                f"zero point '{zp_name}' is computed at run time; TensorRT needs a constant zero point "
                "of 0: make it an initializer of zeros (symmetric quantization)",
            )
        elif zp is not None and np.any(zp.astype(np.float64) != 0):
            checker.add(
                "qdq-zero-point",
                label,
                op,
                f"zero point is {_fmt_values(zp)} but TensorRT supports only symmetric quantization "
                "(zero point 0); re-quantize with symmetric scales and a zero point of 0",
            )

    scale = const_array(scope, scale_name)
    if scale is None:
        return
    values = scale.astype(np.float64)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        checker.add(
            "qdq-scale",
            label,
            op,
            f"scale '{scale_name}' has {int(bad.sum())} non-finite or non-positive values "
            f"(e.g. {_fmt_values(values[bad])}); TensorRT needs finite scales > 0: recalibrate, or give "
            "constant (all-zero) channels a small positive scale",
        )
    if scale.size > 1:
        if 0 < checker.opset < 13:
            checker.add(
                "opset",
                label,
                op,
                "per-channel scales (the axis attribute) need opset 13 but the model is opset "
                f"{checker.opset}; re-export with opset_version >= 13",
            )
        if is_q and not is_constant(scope, x_name):
            checker.add(
                "qdq-per-channel-activation",
                label,
                op,
                f"per-channel scale ({scale.size} values) on activation '{x_name}': TensorRT quantizes "
                "activations per-tensor only; use a scalar scale (per-channel scales are for weights)",
            )


def check_weight_axis(checker: Checker, node: onnx.NodeProto, scope: Scope) -> None:
    """``qdq-weight-per-channel-axis`` for the weight of one Conv/ConvTranspose ``node``."""
    expected = 0 if node.op_type == "Conv" else 1
    producer = scope.lookup(node_input(node, 1)).node
    if producer is None or producer.op_type != "DequantizeLinear" or not is_default(producer):
        return
    chain = [producer]
    weight_name = node_input(producer, 0)
    quant = scope.lookup(weight_name).node
    if quant is not None and quant.op_type == "QuantizeLinear" and is_default(quant):
        chain.append(quant)
        weight_name = node_input(quant, 0)
    weight = const_tensor(scope, weight_name)
    rank = len(weight.dims) if weight is not None else None
    for qdq in chain:
        scale = const_array(scope, node_input(qdq, 1))
        if scale is None or scale.size <= 1:
            continue
        axis = attr_int(qdq, "axis", 1)
        if axis < 0 and rank:
            axis += rank
        if axis != expected:
            checker.add(
                "qdq-weight-per-channel-axis",
                checker.label(qdq),
                qdq.op_type,
                f"per-channel scale of {node.op_type} weight '{weight_name}' is on axis {axis}, but "
                f"TensorRT expects the output-channel axis {expected} for {node.op_type} weights; "
                f"quantize the weights with axis={expected}",
                severity="warning",
            )
