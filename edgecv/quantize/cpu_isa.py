"""Whether ONNX Runtime's int8 kernels on this CPU can saturate, and so need weights on 7 bits.

On x86-64 without VNNI, MLAS multiplies uint8 activations by int8 weights with ``vpmaddubsw``, which adds two
products into a saturating int16: 2 x 255 x 127 = 64,770 does not fit in 32,767, so a conv output can come out
several quantization steps wrong (measured here on an AMD EPYC with AVX2 only: FastestDet's INT8 file scored 10.6%
mAP where its fake-quantized model scored 24.3%). VNNI (``vpdpbusd``, 32-bit sums) and ARM's dot products do not
saturate. ONNX Runtime's own advice is ``reduce_range`` (7-bit weights): |w| <= 64 keeps 2 x 255 x 64 below 32,767.
NNCF does the same with ``OverflowFix.ENABLE`` (weights on half the int8 range, stored as int8).

Example::

    if int8_saturates():
        ...  # quantize the ONNX Runtime CPU scheme with half-range weights
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


def half_range_weights(choice: str, scheme_name: str) -> bool:
    """Whether a scheme's weights go on half the int8 range: ``full``/``half`` as asked; ``auto`` for the ONNX
    Runtime CPU scheme on a CPU whose int8 kernels saturate (TensorRT accumulates in int32: full range)."""
    if choice != "auto":
        return choice == "half"
    return scheme_name == "onnxruntime-cpu" and int8_saturates()
