"""Export a quantized torch model as the QDQ ONNX artifact of one scheme, checked three ways.

1. Parity: ONNX Runtime's output against the torch fake-quantized model it came from (not the FP32 model), with
   the INT8 tolerances of ``quantize.parity``, before and after the file is rewritten; the rewritten file's
   verdict is the one judged (by the pipeline, see :mod:`edgecv.validate.parity`).
2. TensorRT rules (:mod:`edgecv.export.tensorrt_rules`) for every TensorRT target device: a TensorRT-scheme export
   that fails them is an error; another scheme served to a TensorRT device gets a warning naming rule and node.
3. ONNX Runtime fusion (CPU scheme): how many convs became QLinearConv in the graph ORT executes.

Example::

    artifact, metrics = export_quantized(ctx, quantized, source, folder / "int8-ort-cpu.onnx", plan, params)
    metrics["weights_stored"], metrics["ort_fusion"]["QLinearConv"], metrics["parity"]["passed"]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from edgecv.artifacts import InputSpec, ModelArtifact, atomic_save, sha256_file
from edgecv.errors import UnsupportedError, ValidationFailure
from edgecv.export.onnx import choose_opset, export_onnx
from edgecv.quantize.average_pool_conv import average_pool_as_depthwise_conv
from edgecv.quantize.conv_alignment import align_conv_channels, widen_channel_regions
from edgecv.quantize.int8_weights import WeightStorage, compact, store_int8_weights, weights_as_uint8
from edgecv.quantize.nncf_ptq import Calibration, strip_quantized
from edgecv.quantize.onnx_graph import layer_counts, ort_fusion
from edgecv.quantize.qdq_rewrites import (
    fold_scalar_scaling,
    integer_hard_sigmoid,
    quantize_gemm_bias,
    quantize_scalar_operands,
    sink_dequantize,
    sink_dequantize_through,
)
from edgecv.quantize.relu_hoist import hoist_relu_above_quantizer
from edgecv.quantize.schemes import ArtifactPlan, Scheme
from edgecv.quantize.standard_ops import require_standard_ops
from edgecv.quantize.uint8_activations import uint8_activations

MIN_QDQ_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (the axis attribute)


def quantized_opset(ctx: Any) -> int:
    """The export opset (recipe, else the devices' lowest limit); per-channel Q/DQ needs at least 13."""
    opset = choose_opset(ctx.recipe.export.opset, [d.software.max_onnx_opset for d in ctx.devices])
    if opset < MIN_QDQ_OPSET:
        raise UnsupportedError(
            f"INT8 export needs ONNX opset >= {MIN_QDQ_OPSET} (per-channel QuantizeLinear) but the target devices "
            f"allow at most {opset}; remove the older devices from validate.devices or use precision fp16"
        )
    return opset


def export_for_trial(ctx: Any, quantized: nn.Module, path: Path, scheme: Scheme, params: Any) -> Path:
    """The artifact's export and rewrites without its checks, to measure a candidate's accuracy."""
    spec = ctx.input_spec.model_copy(update={"dynamic_batch": ctx.recipe.export.dynamic_batch})
    write_qdq_onnx(quantized, spec, path, opset=quantized_opset(ctx), weights=weight_storage(scheme, params),
                   wrap=ctx.task.export_module)
    return path


def write_qdq_onnx(
    quantized: nn.Module, spec: InputSpec, path: Path, *, opset: int, weights: WeightStorage,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
) -> int:
    """Export an NNCF-quantized model as QDQ ONNX, store its weights as ``weights`` says (:func:`weight_storage`),
    compact; return weights stored.
    ``wrap`` is the task's export adapter (outputs as a tuple in ``spec.output_names`` order)."""
    stripped = strip_quantized(quantized, torch.zeros(1, *spec.shape))
    export_onnx(wrap(stripped) if wrap else stripped, spec, path, opset=opset, simplify=True)
    require_standard_ops(onnx.load(str(path)), path.name)  # before anything loads it: a custom op crashes ORT
    return rewrite_qdq(path, weights)


def weight_storage(scheme: Scheme, params: Any = None) -> WeightStorage:
    """How ``scheme``'s file stores its weights with these quantize parameters (default: the stage's) on this CPU.

    Example: ``weight_storage(ORT_CPU)`` is ``"uint8"`` on an x86 CPU without VNNI, ``"int8"`` elsewhere."""
    from edgecv.quantize.nncf_ptq import weight_type
    from edgecv.stages.quantize import QuantizeParams

    if not scheme.store_int8_weights:
        return "float"
    return "uint8" if weight_type(scheme, params or QuantizeParams(type="quantize")) == "uint8" else "int8"


def quantize_to_onnx(
    model: nn.Module, spec: InputSpec, calibration: Calibration, scheme: str, path: Path, *,
    params: Any = None, opset: int = 17,
) -> dict[str, Any]:
    """The stage's INT8 path without a run: fold BN, ``nncf.quantize`` in ``scheme``, write the QDQ ONNX.

    Example (what bench/compress_cifar10.py runs)::

        data = calibration_data(train_set, preprocessing, size=300, batch_size=32)
        quantize_to_onnx(model, InputSpec(shape=(3, 32, 32)), data, "onnxruntime-cpu", Path("int8.onnx"))
    """
    from edgecv.quantize.bn_fold import fold_batchnorm
    from edgecv.quantize.nncf_ptq import quantize_ptq
    from edgecv.quantize.schemes import SCHEMES
    from edgecv.stages.quantize import QuantizeParams

    params = params or QuantizeParams(type="quantize")
    chosen = SCHEMES[scheme]
    prepared, pairs = fold_batchnorm(model) if params.fold_batchnorm else (model.eval(), [])
    quantized = quantize_ptq(prepared, chosen, calibration, params, [])
    stored = write_qdq_onnx(quantized, spec, path, opset=opset, weights=weight_storage(chosen, params))
    return {"scheme": scheme, "batchnorm_folded": len(pairs), "int8_weight_initializers": stored,
            "layers": layer_counts(onnx.load(str(path)))}


def rewrite_qdq(path: Path, weights: WeightStorage) -> int:
    """ONNX Runtime CPU form (``weights`` int8 or uint8): int8 weight initializers, uint8 activation quantizers
    (uint8_activations), hard-sigmoid gates as uint8 Clips on aligned grids, scalar scalings folded into
    DequantizeLinear and scalar Add/Mul operands quantized (hard-swish as QLinearAdd/QLinearMul), ReLUs moved above
    the quantizer before them (relu_hoist), DequantizeLinear sunk below value-moving ops feeding Adds and Gemms and
    below Concat/MaxPool/Gather/Split, int32 Gemm biases (qdq_rewrites), average pools as int8 depthwise convs
    (average_pool_conv),
    conv channels padded to MLAS's fast int8 kernels (conv_alignment: whole depthwise regions widened in the weights
    where possible, else Pad/Slice around the conv), and for ``uint8`` the weights stored as uint8 last
    (weights_as_uint8); both schemes: compact names."""
    model = onnx.load(str(path))
    count = 0
    if weights != "float":
        count = store_int8_weights(model)
        uint8_activations(model)
        integer_hard_sigmoid(model)
        fold_scalar_scaling(model)
        quantize_scalar_operands(model)
        hoist_relu_above_quantizer(model)
        sink_dequantize(model)
        sink_dequantize_through(model)
        quantize_gemm_bias(model)
        average_pool_as_depthwise_conv(model)
        widen_channel_regions(model)
        align_conv_channels(model)
        if weights == "uint8":
            weights_as_uint8(model)
    compact(model)
    onnx.checker.check_model(model)
    atomic_save(path, lambda tmp: onnx.save(model, str(tmp)))
    return count


def tensorrt_checks(ctx: Any, path: Path, plan: ArtifactPlan) -> tuple[dict[str, Any], list[str]]:
    from edgecv.export.tensorrt_rules import check_for_device

    checks, warnings = {}, []
    for device in ctx.devices:
        if device.name not in plan.targets or device.runtime != "tensorrt" or not device.software.tensorrt:
            continue
        result = check_for_device(path, device)
        checks[device.name] = result.record()
        if not result.ok and plan.scheme is not None and plan.scheme.name == "tensorrt":
            raise ValidationFailure(f"{path.name} for {device.name}: {result.summary()}")
        if not result.ok:
            warnings.append(f"{path.name} on {device.name}: {result.summary()}")
    return checks, warnings


def export_quantized(
    ctx: Any, quantized: nn.Module, source: ModelArtifact, path: Path, plan: ArtifactPlan, params: Any,
    *, name: str, precision: str = "int8", weights: WeightStorage | None = None,
) -> tuple[ModelArtifact, dict[str, Any], list[str]]:
    """Export, rewrite (int8 weights for the CPU scheme, compact names), check; return artifact, metrics, warnings.
    ``params`` is the recipe's stage entry (it names the stage in verdicts); ``weights`` the storage chosen for this
    scheme (default: what ``params`` says)."""
    from edgecv.runtime import OrtRunner, TorchRunner
    from edgecv.stages.contract import stage_key
    from edgecv.stages.export import comparison_path, export_checked, parity_check

    assert plan.scheme is not None
    quantized_opset(ctx)
    stripped = strip_quantized(quantized, torch.zeros(1, *ctx.input_spec.shape))
    key = f"{stage_key(ctx.recipe, params)}.parity"  # the verdicts are the pipeline's: judged, stored, re-judged
    try:
        artifact, before = export_checked(ctx, stripped, source, path, name=name, tolerance=params.parity,
                                          precision=precision, targets=plan.targets, judged_by=key)
    except Exception:
        if path.exists():  # ONNX Runtime refused the file: a non-standard op is the one-line reason, if there is one
            require_standard_ops(onnx.load(str(path)), path.name)
        raise
    stored = rewrite_qdq(path, weights or weight_storage(plan.scheme, params))
    with OrtRunner(path, threads=ctx.recipe.validate_.threads) as runner:
        parity = parity_check(ctx, TorchRunner(stripped), runner, (f"{source.name} (fake-quantized)", name),
                              params.parity, judged_by=key, store=comparison_path(path))
    artifact = artifact.model_copy(update={"size_bytes": path.stat().st_size, "sha256": sha256_file(path)})
    model = onnx.load(str(path))
    require_standard_ops(model, path.name)
    metrics: dict[str, Any] = {
        "scheme": plan.scheme.name, "artifact": name, "targets": plan.targets,
        "activations": plan.scheme.activations, "weights": plan.scheme.weights,
        "weights_stored": "int8" if stored else "float (QuantizeLinear -> DequantizeLinear)",
        "int8_weight_initializers": stored, "size_bytes": artifact.size_bytes,
        "qdq_nodes": sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node),
        "layers": layer_counts(model), "parity": parity.model_dump(),
        "parity_before_rewrite": {"passed": before.passed, "reason": before.reason},
    }
    if plan.scheme.name == "onnxruntime-cpu":
        metrics["ort_fusion"] = ort_fusion(path)
    checks, warnings = tensorrt_checks(ctx, path, plan)
    if checks:
        metrics["tensorrt_check"] = checks
    return artifact, metrics, warnings
