"""The peers' defaults on a task's network, for the detection and segmentation benches: what a user calls first.

- ``nncf_defaults``: ``nncf.quantize`` with its defaults, exported as QDQ ONNX through the task's export adapter.
  Two edgecv helpers are used so NNCF 3.4 runs at all on users' models: ``Tensor.data`` descriptors copied by
  reference, and quantizers shared by ``torch.cat`` inputs converted after ``nncf.strip`` (standard Q/DQ).
- ``ort_defaults``: ONNX Runtime ``quantize_static`` with its defaults on the FP32 ONNX, one image per call (the
  users' graphs here may take batch 1 only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgecv.export.onnx import export_onnx
from edgecv.quantize.nncf_ptq import Calibration, descriptors_copy_as_atoms, strip_quantized


def nncf_defaults(model: torch.nn.Module, calibration: Calibration, spec: Any, path: Path, task: Any) -> None:
    import nncf

    with descriptors_copy_as_atoms():
        quantized = nncf.quantize(model.eval(), calibration.dataset, subset_size=calibration.batches)
    stripped = strip_quantized(quantized, torch.zeros(1, *spec.shape))
    export_onnx(task.export_module(stripped), spec, path, opset=17)


def ort_defaults(fp32: Path, calibration: Calibration, path: Path, input_name: str = "input") -> None:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            images = torch.cat(list(calibration.dataset.get_inference_data()))
            self.batches = iter(images[i : i + 1] for i in range(len(images)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch.numpy()}

    quantize_static(str(fp32), str(path), Reader())
