"""INT8 and FP16 quantization for the ``quantize`` stage, one small module per job.

- :mod:`~edgecv.quantize.schemes`: the Q/DQ schemes (ONNX Runtime CPU, TensorRT) and which artifacts a recipe's
  devices need.
- :mod:`~edgecv.quantize.bn_fold`: BatchNorm folding before quantization.
- :mod:`~edgecv.quantize.layers`: quantizable layers (NNCF node <-> module name) and ignored-scope resolution.
- :mod:`~edgecv.quantize.nncf_ptq`: ``nncf.quantize`` with the scheme's settings; the stripped export form.
- :mod:`~edgecv.quantize.int8_weights`: int8 weight initializers in the QDQ ONNX (4x smaller weights).
- :mod:`~edgecv.quantize.qdq_rewrites`: exact rewrites that let ONNX Runtime fuse more (residual shortcut Adds).
- :mod:`~edgecv.quantize.onnx_graph`: quantized/total layer counts; what ONNX Runtime fused.
- :mod:`~edgecv.quantize.onnx_export`: export one scheme's artifact with parity, TensorRT rules and fusion checks.
- :mod:`~edgecv.quantize.sensitivity` and :mod:`~edgecv.quantize.accuracy_control`: layer ranking and the
  accuracy-budget search.
- :mod:`~edgecv.quantize.qat`: quantization-aware fine-tuning (with distillation).
- :mod:`~edgecv.quantize.fp16`: FP16 artifacts and their CPU emulation.

Heavy libraries (nncf, onnxruntime) are imported inside the functions that need them.
"""

import os

# NNCF compiles its torch C++ extension on first use and gives up after 60 s; on a busy 2-core machine (or a
# fresh CI machine) the first build can take longer, and a timeout then fails the quantize stage. Wait instead.
os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")
