"""FP16: the ONNX stays FP32 (TensorRT's FP16 builder flag does the conversion on the device); on the CPU the
accuracy is estimated by emulating FP16 storage and arithmetic rounding.

The emulation converts every float tensor and initializer to float16 (inputs and outputs stay float32,
``keep_io_types``) with ``onnxruntime.transformers.float16.convert_float_to_float16`` and runs it in ONNX Runtime
on the CPU; ops ORT's CPU provider has no float16 kernel for run in float32 between Casts. It approximates what
TensorRT's FP16 kernels compute (they accumulate differently), which is why metrics call it an emulation.

Example::

    emulated = fp16_emulation(Path("model.onnx"), Path("model.fp16-emulated.onnx"))
    with OrtRunner(emulated) as runner:
        evaluate_runner(runner, loader, labels).top1
"""

from __future__ import annotations

from pathlib import Path

import onnx

from edgecv.artifacts import atomic_save

EMULATION = (
    "FP16 emulated on the CPU: onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True, "
    "Transpose kept float32), run by ONNX Runtime's CPU provider (ops without float16 kernels run in float32 "
    "between Casts)"
)


FLOAT32_OPS = ("Transpose",)
"""Ops left in float32: ONNX Runtime 1.32's CPU session (ORT_ENABLE_ALL, its NCHWc layout pass) segfaults while
opening torchvision's ViT once the attention's float16 Transpose (after LayerNorm, into MatMul) is in the graph.
A Transpose only moves values, so running it in float32 between Casts changes no number."""


def fp16_emulation(source: Path, target: Path) -> Path:
    """Write an FP16 copy of the FP32 ONNX ``source`` (float32 inputs/outputs) to ``target``."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                     op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FLOAT32_OPS])
    atomic_save(target, lambda tmp: onnx.save(model, str(tmp)))
    return target
