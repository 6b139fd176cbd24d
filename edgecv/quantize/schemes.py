"""Quantization schemes, and which artifacts a recipe's devices need.

A scheme is the Q/DQ layout a runtime executes fast:

- ``onnxruntime-cpu``: uint8 asymmetric per-tensor activations, int8 symmetric per-channel weights stored as int8
  in the ONNX file. ONNX Runtime's CPU kernels (MLAS, u8s8) fuse DequantizeLinear -> Conv -> QuantizeLinear into
  QLinearConv, and quantized residual Adds into QLinearAdd. A conv whose output is not quantized (followed by
  hard-swish, SiLU, a concat ...) stays float, so such outputs get a quantizer too (``quantize_conv_outputs``).
- ``tensorrt``: TensorRT explicit quantization: int8 with zero point 0 everywhere, per-tensor activations,
  per-channel weights on the output-channel axis, no int32 bias DequantizeLinear. Weights stay float behind
  QuantizeLinear -> DequantizeLinear (the form every TensorRT 8.x/10.x parser takes); the engine is built on
  the device.

Each device profile names its scheme (``quantization_scheme``) and its ``precisions``. With ``scheme: auto`` a
recipe whose devices mix the host CPU and Jetsons gets one artifact per scheme, each with ``targets`` = the
devices it serves.

Example::

    plans, notes = plan_artifacts("int8", "auto", [load_device("host-cpu"), load_device("jetson-orin-nano-8gb")])
    [(p.scheme.name, p.targets) for p in plans]
    # [("onnxruntime-cpu", ["host-cpu"]), ("tensorrt", ["jetson-orin-nano-8gb"])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgecv.errors import RecipeError

if TYPE_CHECKING:
    from edgecv.devices import DeviceProfile


@dataclass(frozen=True)
class Scheme:
    """One Q/DQ layout. ``short`` names artifacts (``int8-ort-cpu``)."""

    name: str
    short: str
    asymmetric_activations: bool
    signed_activations: bool
    store_int8_weights: bool
    activations: str
    weights: str
    range_estimator: str
    """The activation range estimator ``range_estimator: auto`` picks (measured: see ``SCHEMES``)."""
    quantize_conv_outputs: bool = False
    """Quantize each conv output that reaches no quantizer (a conv before hard-swish, SiLU, concat...), so the
    runtime can fuse the conv: ONNX Runtime's QLinearConv needs its output quantized, TensorRT fuses the activation
    itself (:mod:`edgecv.quantize.output_quantizers`)."""


ORT_CPU = Scheme(
    name="onnxruntime-cpu",
    short="ort-cpu",
    asymmetric_activations=True,
    signed_activations=False,
    store_int8_weights=True,
    activations="uint8 asymmetric, per-tensor",
    weights="int8 symmetric, per-channel, stored as int8 initializers",
    range_estimator="minmax",
    quantize_conv_outputs=True,
)
TENSORRT = Scheme(
    name="tensorrt",
    short="tensorrt",
    asymmetric_activations=False,
    signed_activations=True,
    store_int8_weights=False,
    activations="int8 symmetric (zero point 0), per-tensor",
    weights="int8 symmetric, per-channel (axis 0), float behind QuantizeLinear/DequantizeLinear",
    range_estimator="histogram",
)
SCHEMES: dict[str, Scheme] = {s.name: s for s in (ORT_CPU, TENSORRT)}
"""Range estimators by scheme, from top-1 on the shared val.tar (512 calibration images from train; FP32 ResNet20
81.02, ResNet56 83.02): onnxruntime-cpu (uint8 asymmetric) minmax 81.14 / 83.54 vs NNCF's default 81.00 / 82.90;
tensorrt (int8 symmetric: post-ReLU tensors use half the levels, so clipping outliers pays) histogram
80.90 / 83.42 vs minmax 80.58 / 83.26 and NNCF's default 80.84 / 82.88."""


@dataclass
class ArtifactPlan:
    """One artifact the stage will produce: its scheme (None for fp16), precision and target devices."""

    precision: str
    scheme: Scheme | None
    targets: list[str] = field(default_factory=list)

    def artifact_name(self, prefix: str | None) -> str:
        base = prefix or self.precision
        return f"{base}-{self.scheme.short}" if self.scheme else base


def plan_artifacts(
    precision: str, scheme: str, devices: list[DeviceProfile], key: str = "stages"
) -> tuple[list[ArtifactPlan], list[str]]:
    """The artifacts to produce for ``devices``, and notes about devices no artifact serves.

    Raises RecipeError when no device runs ``precision``.
    """
    able = [d for d in devices if precision in d.precisions]
    notes = [
        f"device '{d.name}' runs {', '.join(d.precisions)}, not {precision}: no {precision} artifact targets it"
        for d in devices
        if d not in able
    ]
    if not able:
        names = ", ".join(d.name for d in devices)
        raise RecipeError(
            f"key '{key}.precision': none of validate.devices ({names}) runs {precision}; "
            f"add a device whose profile lists {precision} in its precisions, or choose another precision"
        )
    if precision == "fp16":
        return [ArtifactPlan("fp16", None, [d.name for d in able])], notes
    if scheme != "auto":
        chosen = SCHEMES[scheme]
        for d in able:
            if d.quantization_scheme != scheme:
                notes.append(f"device '{d.name}' wants the {d.quantization_scheme} scheme; {scheme} was forced")
        return [ArtifactPlan("int8", chosen, [d.name for d in able])], notes
    plans = []
    for name, chosen in SCHEMES.items():
        targets = [d.name for d in able if d.quantization_scheme == name]
        if targets:
            plans.append(ArtifactPlan("int8", chosen, targets))
    return plans, notes
