"""TensorRT runner: load an engine whose sidecar matches this runtime, infer, time each batch with CUDA events.

Optional: imports TensorRT and a CUDA binding (cuda-python or pycuda) only when constructed.

Example (on a machine with the engine's TensorRT and GPU)::

    with TensorRTRunner("out/model.engine") as runner:
        logits = runner.infer(batch)
        runner.last_gpu_ms
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecv.errors import MissingDependencyError, UnsupportedError
from edgecv.runtime.base import Runner


class TensorRTRunner(Runner):
    """A TrtEngine behind the Runner interface; refuses engines built by another TensorRT, GPU or model.

    ``expected`` adds sidecar fields to require (``{"onnx_sha256": ..., "precision": "int8"}``); ``trt``,
    ``cuda`` and ``identity`` replace the real modules and the runtime's identity (tests pass fakes).
    """

    backend = "tensorrt"

    def __init__(
        self,
        engine_path: str | Path,
        *,
        expected: dict[str, Any] | None = None,
        trt: Any = None,
        cuda: Any = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        from edgecv.deploy.trt_engine import check_engine
        from edgecv.deploy.trt_infer import EngineError, TrtEngine, import_tensorrt, runtime_identity

        try:
            trt = trt or import_tensorrt()
            identity = identity or runtime_identity(trt, cuda)
            self.sidecar = check_engine(engine_path, identity, expected)
            self.engine = TrtEngine(engine_path, trt=trt, cuda=cuda)
        except EngineError as exc:
            if "not importable" in str(exc) or "no CUDA Python binding" in str(exc):
                raise MissingDependencyError(str(exc)) from exc
            raise UnsupportedError(str(exc)) from exc
        self.last_gpu_ms = 0.0

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = self.engine.infer_all(batch)
        self.last_gpu_ms = self.engine.last_gpu_ms
        return out

    def close(self) -> None:
        self.engine.close()
