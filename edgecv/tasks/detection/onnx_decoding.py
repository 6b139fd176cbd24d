"""A user's ONNX detector (``model.onnx``) with its declared decoding appended as float ONNX ops.

The decoders of :mod:`edgecv.tasks.detection.decoders` are torch modules; here one is exported on its own (at the
graph's opset, with the shapes the graph really outputs) and joined after the user's graph with
``onnx.compose.merge_models``. Its nodes carry the :data:`DECODE_PREFIX`, so INT8 quantization leaves them in float
and only the user's network is quantized. The result outputs ``boxes`` and ``scores`` like every detector edgecv
builds, so the same NMS and mAP serve torch, ONNX Runtime and the bundle.

Example::

    decoded = decode_onnx(converted, info, recipe.model, num_classes=80)
    [o.name for o in decoded.graph.output]          # ["boxes", "scores"]
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from edgecv.errors import ModelError

if TYPE_CHECKING:
    import onnx

DECODE_PREFIX = "decode/"
"""Prefix of the decoder's node and tensor names in the merged graph (quantization's ignored scope)."""


def _observed_shapes(model: onnx.ModelProto, info: Any) -> list[tuple[int, ...]]:
    """The shapes the chosen outputs really have, from one ONNX Runtime run on zeros (symbolic dims resolved)."""
    outputs = _run_on_zeros(model, info)
    return [tuple(outputs[name].shape) for name in info.outputs]


def _run_on_zeros(model: onnx.ModelProto, info: Any) -> dict[str, np.ndarray]:
    from edgecv.runtime import OrtRunner

    with OrtRunner(model, threads=1) as runner:
        return runner.infer_all(np.zeros((info.fixed_batch or 1, *info.shape), dtype=np.float32))


class DecoderGraph(nn.Module):
    """A decoder at a fixed input height and width, taking the raw tensors positionally (what ONNX export traces)."""

    def __init__(self, decoder: nn.Module, height: int, width: int) -> None:
        super().__init__()
        self.decoder, self.height, self.width = decoder, height, width

    def forward(self, *raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.decoder(raw[0] if len(raw) == 1 else tuple(raw), self.height, self.width)
        return out["boxes"], out["scores"]


def decoder_onnx(name: str, shapes: list[tuple[int, ...]], height: int, width: int, opset: int,
                 dynamic_batch: bool, num_classes: int) -> onnx.ModelProto:
    """The decoding ``name`` as an ONNX graph taking ``raw0..rawN`` of ``shapes`` and giving boxes and scores."""
    import onnx

    from edgecv.tasks.detection.decoders import decoder_for

    module = DecoderGraph(decoder_for(name, num_classes), height, width).eval()
    dummies = tuple(torch.zeros(shape) for shape in shapes)
    names = [f"raw{i}" for i in range(len(shapes))]
    with torch.no_grad():
        module(*dummies)  # a shape the decoder cannot read is its one-line ModelError, before export
    dynamic = {n: {0: "batch"} for n in [*names, "boxes", "scores"]} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, dummies, buffer, input_names=names, output_names=["boxes", "scores"],
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def decode_onnx(model: onnx.ModelProto, info: Any, section: Any, num_classes: int) -> onnx.ModelProto:
    """``model`` (the user's graph at the run's opset) followed by its declared decoding; outputs boxes, scores."""
    import onnx
    from onnx import compose

    from edgecv.models.onnx_input import default_opset, rename_outputs
    from edgecv.tasks.detection.decoders import DECODER_INPUTS, decoder_for

    decoder_for(section.decoding, num_classes)  # a missing or unknown decoding: its one line first
    wanted = DECODER_INPUTS[section.decoding]
    if len(info.outputs) != wanted:
        raise ModelError(
            f"model.decoding {section.decoding} reads {wanted} output(s) but {len(info.outputs)} are chosen "
            f"({', '.join(info.outputs)}); name them in model.outputs", field="model.outputs",
        )
    shapes = _observed_shapes(model, info)
    height, width = info.shape[1], info.shape[2]
    decoder = decoder_onnx(section.decoding, shapes, height, width, default_opset(model),
                           info.fixed_batch is None, num_classes)
    decoder.ir_version = model.ir_version = max(model.ir_version, decoder.ir_version)
    merged = compose.merge_models(
        model, decoder, io_map=[(out, f"raw{i}") for i, out in enumerate(info.outputs)], prefix2=DECODE_PREFIX,
        outputs=[f"{DECODE_PREFIX}boxes", f"{DECODE_PREFIX}scores"],
    )
    merged = rename_outputs(merged, {f"{DECODE_PREFIX}boxes": "boxes", f"{DECODE_PREFIX}scores": "scores"})
    onnx.checker.check_model(merged)
    _check_classes(merged, info, num_classes, section)
    return merged


def _check_classes(model: onnx.ModelProto, info: Any, num_classes: int, section: Any) -> None:
    """The decoded scores have one column per class of the data."""
    scores = _run_on_zeros(model, info)["scores"]
    if scores.shape[-1] != num_classes:
        raise ModelError(
            f"model.onnx {section.onnx} decoded with {section.decoding} gives {scores.shape[-1]} class scores but the "
            f"data has {num_classes} classes; check that the data's class list (its names file) is the model's",
            field="model.onnx",
        )
