"""Whether ONNX Runtime's int8 kernels on this CPU can saturate, and how the CPU scheme's weights avoid it.

On x86-64 without VNNI, MLAS multiplies uint8 activations by int8 weights with ``vpmaddubsw``, which adds two
products into a saturating int16: 2 x 255 x 127 = 64,770 does not fit in 32,767, so a conv output can come out
several quantization steps wrong (measured here on an AMD EPYC with AVX2 only: FastestDet's INT8 file scored 10.6%
mAP where its fake-quantized model scored 24.3%). VNNI (``vpdpbusd``, 32-bit sums) and ARM's dot products do not
saturate. Two ways out on such a CPU:

- uint8 weights (zero point 128, the same 8-bit values): MLAS's u8u8 kernels widen to int16 first and sum in int32,
  so nothing saturates and no precision is lost; they are slower than u8s8 (FastestDet: 0.80x of FP32 against 0.93x).
  The default (``weight_type: auto``) on a saturating CPU: FastestDet -0.30 mAP against half-range's -2.29.
- half-range int8 weights (ONNX Runtime's ``reduce_range``, NNCF's ``OverflowFix.ENABLE``): |w| <= 64 keeps
  2 x 255 x 64 below 32,767, at 7 bits of precision (``weight_type: int8`` with ``weight_range: auto``).

``weight_type: fastest`` lets accuracy control take the half-range int8 weights where their all-INT8 drop on the
selection split is within the budget (:mod:`edgecv.quantize.setting_choice`), else uint8.

Example::

    int8_weight_format("auto", "auto", "onnxruntime-cpu")   # ("uint8", "full") on AVX2 without VNNI
    int8_weight_format("int8", "auto", "onnxruntime-cpu")   # ("int8", "half") there, ("int8", "full") elsewhere
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

NO_SATURATION_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""cpuinfo flags of x86 int8 dot-product instructions whose sums are 32-bit (no int16 saturation)."""


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where /proc/cpuinfo is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def int8_saturates(machine: str | None = None, flags: frozenset[str] | None = None) -> bool:
    """True on an x86-64 CPU without VNNI (known flags only: an unreadable cpuinfo says False)."""
    machine = (machine or platform.machine()).lower()
    flags = cpu_flags() if flags is None else flags
    return machine in {"x86_64", "amd64"} and bool(flags) and not (flags & NO_SATURATION_FLAGS)


def int8_weight_format(weight_type: str, weight_range: str, scheme_name: str) -> tuple[str, str]:
    """(stored type ``int8``/``uint8``, range ``full``/``half``) of a scheme's quantized weights for the recipe's
    ``weight_type`` and ``weight_range`` (``auto`` resolved as the module docstring says; ``fastest`` is resolved by
    the quantize stage's accuracy control to int8 or uint8, and reads as ``auto`` before that). Only the ONNX Runtime
    CPU scheme stores uint8 weights: TensorRT's are int8 and it sums in int32 (full range)."""
    saturating = scheme_name == "onnxruntime-cpu" and int8_saturates()
    kind = "int8"
    if scheme_name == "onnxruntime-cpu":
        kind = weight_type if weight_type in ("int8", "uint8") else ("uint8" if saturating else "int8")
    span = weight_range
    if weight_range == "auto":
        span = "half" if saturating and kind == "int8" else "full"
    return kind, span


def weight_type_candidates(scheme_name: str) -> list[str]:
    """``weight_type: fastest``'s candidates for a scheme on this CPU, fastest first: int8 then uint8 where u8s8
    sums saturate (the int8 weights are then half-range), int8 alone elsewhere (both fastest and full-range)."""
    return ["int8", "uint8"] if scheme_name == "onnxruntime-cpu" and int8_saturates() else ["int8"]
