"""Which ONNX operators each TensorRT version's ONNX parser (onnx-tensorrt) imports, and the opsets it reads.

Data only; ``edgecv.export.tensorrt_rules`` applies it. Look a version up with :func:`parser_spec`::

    from edgecv.export.tensorrt_ops import parser_spec
    spec = parser_spec(8, 5)
    "LayerNormalization" in spec.ops     # False: the 8.5 parser has no importer for it (8.6 added one)
    spec.max_opset                       # 17

Sources
-------
Every table is the set of rows marked ``Y`` in ``docs/operators.md`` of https://github.com/onnx/onnx-tensorrt
(the parser TensorRT ships), read at these stored revisions:

* TensorRT 8.4: commit ``009d6541b4ee1fa3f3150cd7cbabe7e56aa54840`` (header "TensorRT 8.4 supports
  operators up to Opset 13").
* TensorRT 8.5: commit ``6d0ab7be324d02c7feb3a306b6fdbeae84f71ddc`` (release/8.5-GA, header "TensorRT 8.5
  supports operators up to Opset 17"; it lists ``GridSample``, ``Mod``, ``NonZero``..., which the 8.5 GA
  changelog entry adds).
* TensorRT 10.15: the main-branch ``docs/operators.md`` with the header "TensorRT 10.15 supports operators in
  the inclusive range of opset 9 to opset 24" (the newest stored revision).

Versions without a stored operators.md are derived from the nearest snapshot and the "Added support for ..."
entries of the same repository's ``docs/Changelog.md`` (stored revisions
``0137504e2b25fe5253bd85d26b073378fb67805b``, up to 10.6, and the main-branch one, up to 10.15):

* 8.2 = the 8.4 table minus ``Xor`` (the 8.4 GA entry adds ``Shrink`` and ``Xor``; the 8.4 table still marks
  ``Shrink`` N). Opset 13, as the 8.2 operators.md header says.
* 8.6 = the 8.5 table plus ``GroupNormalization``, ``LayerNormalization`` and ``IsInf`` (8.6 EA entry).
  Opset 17 (the 8.6 operators.md header, quoted in NVIDIA's DLA support matrix and forum answers).
* 10.x = the 10.15 table minus what a later 10.y entry adds (``_ADDED_IN_10``: 10.1 ``DeformConv``; 10.4 the
  ``*Window`` ops; 10.5 ``STFT``; 10.14 ``Attention``; 10.15 ``RotaryEmbedding``, ``RMSNormalization``,
  ``TensorScatter``). Ops the changelog never mentions (``Gelu``, ``Mish``, ``CastLike``; ``Hardmax`` came
  in 9.2) are taken as present from 10.0 on.
* 11.x: no 11.x operators.md is stored; the 10.15 table is used (11.x only adds importers, so this can only
  over-report). Highest opset 25, from NVIDIA's "ONNX Opset Guide" for TensorRT 11.x
  (https://docs.nvidia.com/deeplearning/tensorrt/latest/reference/onnx-opset-guide.html).

Highest opset per 10.x minor: 20 for 10.0 and 24 for 10.15 are documented (operators.md headers); the values
between follow the ONNX submodule version the changelog says each release moved to, conservatively
(10.0-10.7: 20, 10.8-10.10: 22, 10.11-10.14: 23). A device profile's ``max_onnx_opset`` overrides them.

Quantized types TensorRT's Q/DQ importers accept (changelog): INT8 always; FP8 (E4M3FN) from 9.0 GA; INT4 from
10.0 EA; FP4 (E2M1) from 10.8.
"""

from __future__ import annotations

from dataclasses import dataclass


def _ops(text: str) -> frozenset[str]:
    return frozenset(text.split())


# onnx-tensorrt@009d6541 docs/operators.md (TensorRT 8.4): the rows marked Y.
OPS_8_4 = _ops(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu
    Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear
    Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm
    GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GRU HardSigmoid Identity If
    ImageScaler InstanceNormalization IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM
    LpNormalization LpPool MatMul Max MaxPool Mean Min Mul Neg NonMaxSuppression Not Or Pad
    ParametricSoftplus Pow PRelu QuantizeLinear RandomUniform RandomUniformLike Range ReduceL1 ReduceL2
    ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu
    Reshape Resize ReverseSequence RNN Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape
    Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh ThresholdedRelu Tile TopK Transpose Unsqueeze Upsample Where Xor
    """
)

# Derived: the 8.4 GA changelog entry adds Shrink and Xor (Shrink is still N in the 8.4 table).
OPS_8_2 = OPS_8_4 - {"Xor"}

# onnx-tensorrt@6d0ab7be docs/operators.md (release/8.5-GA): the rows marked Y.
OPS_8_5 = _ops(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu
    Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear
    Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm
    GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GRU HardSwish HardSigmoid
    Identity If ImageScaler InstanceNormalization IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN
    LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mod Mul Neg
    NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal
    RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum
    ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
    ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink
    Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
    """
)

# Derived: the 8.6 EA changelog entry adds GroupNormalization, LayerNormalization and IsInf.
OPS_8_6 = OPS_8_5 | {"GroupNormalization", "LayerNormalization", "IsInf"}

# onnx-tensorrt main docs/operators.md ("TensorRT 10.15 supports ... opset 9 to opset 24"): the rows marked Y.
OPS_10_15 = _ops(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool BatchNormalization
    BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh
    CumSum DeformConv DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike
    Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
    Greater GreaterOrEqual GridSample GroupNormalization GRU HammingWindow HannWindow HardSigmoid HardSwish
    Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less
    LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
    MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
    ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform
    RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
    ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RMSNormalization RNN
    RoiAlign RotaryEmbedding Round STFT ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink
    Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh TensorScatter ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
    """
)

# Changelog "Added support for ..." entries after 10.0, by minor: an op is in 10.m's table from m on.
_ADDED_IN_10: dict[int, frozenset[str]] = {
    1: frozenset({"DeformConv"}),
    4: frozenset({"BlackmanWindow", "HammingWindow", "HannWindow"}),
    5: frozenset({"STFT"}),
    14: frozenset({"Attention"}),
    15: frozenset({"RotaryEmbedding", "RMSNormalization", "TensorScatter"}),
}
LATEST_10_MINOR = 15

# Highest default-domain opset of each 10.x minor (see the module docstring for which are documented).
_MAX_OPSET_10: tuple[tuple[int, int], ...] = ((0, 20), (8, 22), (11, 23), (15, 24))


@dataclass(frozen=True)
class ParserSpec:
    """What one TensorRT version's ONNX parser accepts."""

    version: str
    """The table's version, ``"8.5"`` or ``"10.3"``; a requested ``8.5.2`` resolves to ``8.5``."""
    ops: frozenset[str]
    """Default-domain (``ai.onnx``) op types the parser imports."""
    min_opset: int
    max_opset: int
    quant_types: frozenset[str]
    """Quantized types Q/DQ nodes may use: ``int8``, ``fp8`` (E4M3FN), ``int4``, ``fp4`` (E2M1)."""
    source: str
    """Where the op table comes from, for messages."""
    local_functions: bool
    """Whether the parser imports ONNX model-local functions (9.0 EA and later)."""


_OPS_REPO = "onnx-tensorrt docs/operators.md"


def _trt10(minor: int) -> ParserSpec:
    ops = OPS_10_15
    for added_in, added in _ADDED_IN_10.items():
        if minor < added_in:
            ops = ops - added
    max_opset = max(opset for since, opset in _MAX_OPSET_10 if minor >= since)
    quant = {"int8", "fp8", "int4"} | ({"fp4"} if minor >= 8 else set())
    source = (
        f"{_OPS_REPO} for TensorRT 10.15"
        if minor >= LATEST_10_MINOR
        else f"{_OPS_REPO} for TensorRT 10.15, less ops the changelog adds after 10.{minor}"
    )
    return ParserSpec(
        version=f"10.{min(minor, LATEST_10_MINOR)}",
        ops=ops,
        min_opset=9,
        max_opset=max_opset,
        quant_types=frozenset(quant),
        source=source,
        local_functions=True,
    )


_INT8 = frozenset({"int8"})

_TRT8: dict[int, ParserSpec] = {
    2: ParserSpec("8.2", OPS_8_2, 7, 13, _INT8, f"{_OPS_REPO} for TensorRT 8.4, less Xor (changelog)", False),
    4: ParserSpec(
        "8.4", OPS_8_4, 7, 13, _INT8, f"{_OPS_REPO} for TensorRT 8.4 (onnx-tensorrt@009d654)", False
    ),
    5: ParserSpec(
        "8.5", OPS_8_5, 7, 17, _INT8, f"{_OPS_REPO} for TensorRT 8.5 GA (onnx-tensorrt@6d0ab7b)", False
    ),
    6: ParserSpec(
        "8.6", OPS_8_6, 7, 17, _INT8, f"{_OPS_REPO} for TensorRT 8.5 GA plus the 8.6 changelog", False
    ),
}

_TRT11 = ParserSpec(
    "11",
    OPS_10_15,
    9,
    25,
    frozenset({"int8", "fp8", "int4", "fp4"}),
    f"{_OPS_REPO} for TensorRT 10.15 (no 11.x table is stored; 11.x adds importers)",
    True,
)

KNOWN_VERSIONS: tuple[str, ...] = ("8.2", "8.4", "8.5", "8.6", "10.0-10.15", "11.x")
"""The versions :func:`parser_spec` has a table for, for error messages."""


def parser_spec(major: int, minor: int) -> ParserSpec | None:
    """The parser table for TensorRT ``major.minor``, or None when none is known.

    8.x uses the newest table at or below the minor (8.3 -> 8.2); 10.x is exact per minor up to 10.15 and
    uses 10.15 after that; any 11.x uses the 11 table.
    """
    if major == 8:
        known = [m for m in _TRT8 if m <= minor]
        return _TRT8[max(known)] if known else None
    if major == 10:
        return _trt10(minor)
    if major == 11:
        return _TRT11
    return None
