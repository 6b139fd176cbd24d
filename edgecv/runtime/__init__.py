"""Runners: one per backend (torch, ONNX Runtime, TensorRT), each load / infer / close with the same interface.

Example::

    from edgecv.runtime import OrtRunner
    with OrtRunner("model.onnx", threads=2) as runner:
        logits = runner.infer(batch)          # numpy in, numpy out: the first output
        outputs = runner.infer_all(batch)     # every output by name: {"logits": ...}
"""

from edgecv.runtime.base import Runner
from edgecv.runtime.ort import OrtRunner
from edgecv.runtime.torch_runner import TorchRunner

__all__ = ["OrtRunner", "Runner", "TorchRunner"]
