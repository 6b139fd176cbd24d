"""Real TensorRT on a real GPU: build, check the sidecar, infer and compare with ONNX Runtime.

Skipped cleanly without the tensorrt package or without a CUDA GPU and a CUDA Python binding (cuda-python or
pycuda). On a Jetson or a PC with an NVIDIA GPU: ``pytest -m "tensorrt and gpu" tests/deploy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing
from edgecv.devices import load_device
from edgecv.export.trt_options import TensorRTOptions
from tests.deploy.onnx_models import classifier, save

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


def _real() -> tuple[Any, Any]:
    trt = pytest.importorskip("tensorrt", reason="needs the TensorRT Python package")
    from edgecv.deploy.trt_infer import EngineError, cuda_backend

    try:
        cuda = cuda_backend()
        cuda.device()
    except (EngineError, Exception) as exc:  # no binding, no driver, no GPU
        pytest.skip(f"needs a CUDA GPU and cuda-python or pycuda ({exc})")
    return trt, cuda


def _device_here(trt: Any, cuda: Any) -> Any:
    """A profile for the GPU here: this TensorRT version and compute capability, no DLA."""
    _, cc = cuda.device()
    base = load_device("jetson-orin-nano-8gb")
    software = base.software.model_copy(update={"tensorrt": trt.__version__, "max_onnx_opset": 17})
    return base.model_copy(update={"software": software, "compute_capability": cc, "dla_cores": 0})


@pytest.mark.parametrize("qdq", [False, True])
def test_build_run_and_compare_with_onnxruntime(tmp_path: Path, qdq: bool) -> None:
    trt, cuda = _real()
    from edgecv.export.tensorrt import export_engine
    from edgecv.runtime import OrtRunner
    from edgecv.runtime.tensorrt_runner import TensorRTRunner

    onnx_path = save(classifier(qdq=qdq), tmp_path / "model.onnx")
    artifact = ModelArtifact(
        name="m-onnx",
        format="onnx",
        path=str(onnx_path),
        input=InputSpec(shape=(3, 16, 16)),
        preprocessing=Preprocessing(size=(16, 16)),
    )
    engine = export_engine(artifact, _device_here(trt, cuda), tmp_path / "out", TensorRTOptions(max_batch=8))
    assert (tmp_path / "out" / "model.engine.json").is_file()
    batch = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    with OrtRunner(onnx_path) as ort_runner:
        expected = ort_runner.infer(batch)
    with TensorRTRunner(engine.path, expected={"precision": engine.precision}) as runner:
        got = runner.infer(batch)
        assert runner.last_gpu_ms > 0
    np.testing.assert_allclose(got, expected, atol=0.05 if qdq else 0.02, rtol=0.05)
