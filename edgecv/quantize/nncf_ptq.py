"""INT8 post-training quantization with NNCF (``nncf.quantize``) in a given scheme, and the stripped export form.

NNCF 3.4's torch backend inserts quantizer hooks into the module (the model keeps its class). Settings per scheme:

- onnxruntime-cpu: preset MIXED (asymmetric activations, symmetric weights), activations per-tensor (NNCF's
  default makes depthwise inputs per-channel, which no QLinearConv takes), weights per-channel.
- tensorrt: preset PERFORMANCE (symmetric), activations per-tensor, weights per-channel; NNCF makes post-ReLU
  activations unsigned (uint8) and its hardware config refuses to force signedness, so the unsigned activation
  quantizers are switched to signed int8 afterwards (same scale: the range TensorRT's int8 covers).

Example::

    data = calibration_data(splits.train, preprocessing, size=300, batch_size=32)
    quantized = quantize_ptq(folded_model, TENSORRT, data, params, ignored_nodes=[])
    exportable = strip_quantized(quantized, torch.zeros(1, 3, 32, 32))    # torch FakeQuantize -> ONNX Q/DQ
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset

from edgecv.artifacts import Preprocessing
from edgecv.data import calibration_subset, make_loader
from edgecv.quantize.schemes import Scheme

if TYPE_CHECKING:
    from edgecv.tasks.base import Task

RANGE_ESTIMATORS = {
    "minmax": "MINMAX",
    "mean_minmax": "MEAN_MINMAX",
    "median_minmax": "MEDIAN_MINMAX",
    "mean_no_outliers": "MEAN_NO_OUTLIERS_MINMAX",
    "percentile": "MEAN_QUANTILE",
    "histogram": "HISTOGRAM",
}
"""Recipe names -> ``nncf.quantization.range_estimator.RangeEstimatorParametersSet`` members (activations)."""
FLOAT_OP_TYPES = ("layer_norm", "group_norm")
"""NNCF op types always kept in float. Neither ONNX Runtime nor TensorRT runs a normalization in INT8, and NNCF
3.4's torch backend quantizes their 1-D weight per-channel from per-tensor statistics and fails (``shape '[768]' is
invalid for input of size 1`` on ViT and ConvNeXt); their inputs stay float, the Linear/Conv after them quantize."""


@dataclass
class Calibration:
    """An NNCF calibration dataset and how many of its batches to use."""

    dataset: Any
    batches: int
    images: int


def calibration_data(
    dataset: Dataset[Any], pre: Preprocessing, size: int, batch_size: int, seed: int = 0, task: Task | None = None
) -> Calibration:
    """A class-balanced, seeded subset of ``size`` images as an ``nncf.Dataset`` of preprocessed batches.

    ``task`` (the run's) draws the subset and batches the images its way (a detector's images carry boxes);
    without it, classification's.
    """
    import nncf

    if task is None:
        subset = calibration_subset(dataset, size, seed)
        loader = make_loader(subset, pre, batch_size)
    else:
        subset = task.subset(dataset, size, seed)
        loader = task.loader(subset, pre, batch_size)
    images = len(subset)  # type: ignore[arg-type]
    return Calibration(nncf.Dataset(loader, lambda batch: batch[0]), math.ceil(images / batch_size), images)


def range_estimator(scheme: Scheme, params: Any) -> str:
    """The activation range estimator used: the recipe's, or the scheme's for ``auto``."""
    return scheme.range_estimator if params.range_estimator == "auto" else params.range_estimator


def weight_range(scheme: Scheme, params: Any) -> str:
    """``half`` or ``full``: the int8 weight range ``scheme`` gets with these parameters on this CPU."""
    from edgecv.quantize.cpu_isa import int8_weight_format

    return int8_weight_format(params.weight_type, params.weight_range, scheme.name)[1]


def weight_type(scheme: Scheme, params: Any) -> str:
    """``int8`` or ``uint8`` (zero point 128): how ``scheme``'s file stores its weights on this CPU."""
    from edgecv.quantize.cpu_isa import int8_weight_format

    return int8_weight_format(params.weight_type, params.weight_range, scheme.name)[0]


def nncf_arguments(
    scheme: Scheme, params: Any, ignored_nodes: list[str], patterns: list[str] = ()  # type: ignore[assignment]
) -> dict[str, Any]:
    """Keyword arguments of ``nncf.quantize`` for ``scheme`` and a QuantizeParams (estimators, bias correction);
    ``patterns`` are regexes of NNCF node names kept in float (see :func:`float_scope_patterns`)."""
    import nncf
    from nncf.common.quantization.structs import QuantizationScheme
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
        QuantizationParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    mode = QuantizationScheme.ASYMMETRIC if scheme.asymmetric_activations else QuantizationScheme.SYMMETRIC
    advanced = AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(mode=mode, per_channel=False),
        weights_quantization_params=QuantizationParameters(mode=QuantizationScheme.SYMMETRIC, per_channel=True),
        disable_bias_correction=params.bias_correction == "none",
        # NNCF's default (FIRST_LAYER) halves the first conv's weights whatever the kernels: 7 bits where nothing
        # saturates (TensorRT, VNNI, uint8 weights), and its largest weight lands on a rounding tie (63.5) that
        # NNCF's torch and ONNX backends break differently. Halve every layer or none.
        overflow_fix=OverflowFix.ENABLE if weight_range(scheme, params) == "half" else OverflowFix.DISABLE,
    )
    estimator = range_estimator(scheme, params)
    if estimator != "default":
        advanced.activations_range_estimator_params = getattr(RangeEstimatorParametersSet, RANGE_ESTIMATORS[estimator])
    preset = nncf.QuantizationPreset.MIXED if scheme.asymmetric_activations else nncf.QuantizationPreset.PERFORMANCE
    return {
        "preset": preset,
        "fast_bias_correction": True,  # NNCF's torch backend implements only the fast variant
        # names are resolved against the model before (edgecv.quantize.layers); the types may be absent
        "ignored_scope": nncf.IgnoredScope(names=list(ignored_nodes), types=list(FLOAT_OP_TYPES),
                                           patterns=list(patterns), validate=False),
        "advanced_parameters": advanced,
    }


KEEP_FLOAT = "edgecv_keep_float"
"""A module with this attribute set to True is left in float by quantization (a detector's box decoding)."""


def float_scope_patterns(model: nn.Module) -> list[str]:
    """NNCF node-name regexes of the modules marked :data:`KEEP_FLOAT` (NNCF names ops ``a/b/op/0``)."""
    return [f"^{re.escape(name.replace('.', '/'))}/.*" for name, module in model.named_modules()
            if name and getattr(module, KEEP_FLOAT, False)]


@contextlib.contextmanager
def descriptors_copy_as_atoms() -> Iterator[None]:
    """Let ``copy.deepcopy`` copy attribute descriptors by reference while NNCF copies its graph.

    A forward that reads ``x.data`` (FastestDet's channel shuffle) leaves the ``Tensor.data`` descriptor in NNCF's
    traced graph, which ``deepcopy`` refuses (``cannot pickle 'getset_descriptor'``); descriptors are immutable,
    so sharing them is what copying them means.
    """
    kinds = (types.GetSetDescriptorType, types.MemberDescriptorType)
    added = [k for k in kinds if k not in copy._deepcopy_dispatch]  # type: ignore[attr-defined]
    for kind in added:
        copy._deepcopy_dispatch[kind] = copy._deepcopy_atomic  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for kind in added:
            copy._deepcopy_dispatch.pop(kind, None)  # type: ignore[attr-defined]


def quantize_ptq(
    model: nn.Module, scheme: Scheme, calibration: Calibration, params: Any, ignored_nodes: list[str]
) -> nn.Module:
    """NNCF PTQ of ``model`` (left untouched) in ``scheme``; returns the fake-quantized torch model."""
    import nncf

    from edgecv.quantize.output_quantizers import add_output_quantizers, int8_activations

    kwargs = nncf_arguments(scheme, params, ignored_nodes, float_scope_patterns(model))
    logging.getLogger("nncf").setLevel(logging.ERROR)
    if scheme.quantize_conv_outputs:  # SiLU / hard-swish as ops ONNX Runtime has int8 kernels for (same function)
        model = int8_activations(model)
    with descriptors_copy_as_atoms():
        quantized = nncf.quantize(model.eval(), calibration.dataset, subset_size=calibration.batches, **kwargs)
    drop_dead_end_quantizers(quantized, model, next(iter(calibration.dataset.get_inference_data())))
    if scheme.quantize_conv_outputs:
        add_output_quantizers(quantized, calibration)  # ONNX Runtime fuses a conv only with its output quantized
    if scheme.signed_activations:
        force_signed_activations(quantized)
    return quantized.eval()


def drop_dead_end_quantizers(quantized: nn.Module, model: nn.Module, example: torch.Tensor) -> list[str]:
    """Remove the activation quantizers whose tensor never reaches a layer with weights; return their hook names.

    Such a tensor only feeds float post-processing: a detector's box decoding, its anchors (shape arithmetic on
    integers, which FakeQuantize cannot even export), a head's final activations. An INT8 kernel gains nothing
    there, and an 8-bit grid on box coordinates costs accuracy, so they stay float whatever NNCF's node names
    (torchvision detectors' ops carry none that an ignored scope could name).
    """
    from nncf.torch.function_hook.hook_storage import decode_hook_name
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph
    from nncf.torch.function_hook.wrapper import get_hook_storage

    graph = build_nncf_graph(model.eval(), example)
    feeds_weights: set[str] = set()
    pending = [n for n in graph.get_all_nodes() if getattr(n.metatype, "weight_port_ids", None)]
    while pending:
        node = pending.pop()
        if node.node_name in feeds_weights:
            continue
        feeds_weights.add(node.node_name)
        pending.extend(e.from_node for e in graph.get_input_edges(node))
    nodes = {n.node_name: n for n in graph.get_all_nodes()}
    storage = get_hook_storage(quantized)
    dropped = []
    for name in quantizers(quantized):
        kind, node_name, _ = decode_hook_name(name)
        if node_name not in nodes:
            continue
        if kind == "pre_hooks":
            reaches = node_name in feeds_weights
        else:
            reaches = any(e.to_node.node_name in feeds_weights for e in graph.get_output_edges(nodes[node_name]))
        if not reaches:
            storage.set_submodule(name, nn.Identity())
            dropped.append(name)
    return dropped


def quantizers(model: nn.Module) -> dict[str, Any]:
    """Hook name (``pre_hooks.<node>__<port>.<i>`` / ``post_hooks...``) -> NNCF quantizer module."""
    from nncf.torch.function_hook.wrapper import get_hook_storage
    from nncf.torch.quantization.layers import BaseQuantizer

    return {name: m for name, m in get_hook_storage(model).named_hooks() if isinstance(m, BaseQuantizer)}


def force_signed_activations(model: nn.Module) -> int:
    """Make every unsigned symmetric quantizer signed int8 (zero point 0) with the same scale; return how many."""
    from nncf.torch.quantization.layers import SymmetricQuantizer

    changed = 0
    for quantizer in quantizers(model).values():
        if isinstance(quantizer, SymmetricQuantizer) and not quantizer.signed:
            quantizer.signed = True
            changed += 1
    return changed


def strip_quantized(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy with NNCF quantizers replaced by torch FakeQuantize: what the legacy exporter turns into Q/DQ."""
    import nncf
    from nncf.parameters import StripFormat

    stripped = nncf.strip(model, do_copy=True, strip_format=StripFormat.NATIVE, example_input=example)
    convert_shared_quantizers(stripped)
    return stripped.eval()


def convert_shared_quantizers(model: nn.Module) -> int:
    """Replace the NNCF quantizers ``nncf.strip`` left behind by torch FakeQuantize; return how many hooks changed.

    A quantizer shared by several hooks (unified scales on the inputs of a ``torch.cat``) is one module under
    several names; ``nncf.strip`` walks the de-duplicated names and replaces it under the first only. The others
    would export as OpenVINO ``FakeQuantize`` custom ops, which ONNX Runtime and TensorRT cannot load. Shared
    quantizers are activation quantizers, so no weight needs the half-range clamp ``nncf.strip`` applies.
    """
    from nncf.torch.function_hook.wrapper import get_hook_storage
    from nncf.torch.quantization.layers import BaseQuantizer
    from nncf.torch.quantization.strip import convert_to_torch_fakequantizer

    storage = get_hook_storage(model)
    left = [(name, module) for name, module in storage.named_modules(remove_duplicate=False)
            if name.count(".") == 2 and isinstance(module, BaseQuantizer)]  # depth 2: hook modules (see named_hooks)
    converted: dict[int, nn.Module] = {}
    for name, module in left:
        if id(module) not in converted:
            converted[id(module)] = convert_to_torch_fakequantizer(module)
        storage.set_submodule(name, converted[id(module)])
    return len(left)
