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
``resize``                      Resize attributes the parser refuses: ``cubic`` mode, ``tf_crop_and_resize``
                                coordinates, antialiasing, a keep-aspect-ratio policy other than ``stretch``
                                (:mod:`edgecv.export.tensorrt_resize`)
``plugin``                      a TensorRT plugin node (``EfficientNMS_TRT``...) the version does not ship:
                                added later, removed, or unknown (:mod:`edgecv.export.tensorrt_plugins`);
                                a deprecated one is a warning
``plugin-inputs``               EfficientNMS_TRT inputs of the wrong type, rank or box count
                                (:mod:`edgecv.export.tensorrt_plugin_inputs`)
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
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from edgecv.errors import UnsupportedError
from edgecv.export.tensorrt_checker import Checker
from edgecv.export.tensorrt_ops import KNOWN_VERSIONS, ParserSpec, parser_spec
from edgecv.export.tensorrt_result import MODEL_NODE as MODEL_NODE
from edgecv.export.tensorrt_result import RULES, CheckResult, Problem
from edgecv.export.tensorrt_result import Severity as Severity
from edgecv.onnx_io import load_onnx

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
# Entry points


def _check(
    model: onnx.ModelProto | str | Path,
    tensorrt_version: str,
    max_opset: int | None,
    precisions: list[str] | None = None,
    device_name: str = "",
) -> CheckResult:
    spec = resolve_tensorrt(tensorrt_version)
    checker = Checker(load_onnx(model), spec, max_opset)
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
