"""ONNX Runtime runner (CPU by default)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgecv.runtime.base import Runner


class OrtRunner(Runner):
    """An ONNX Runtime session with a fixed thread count and worker spinning off.

    Spinning is turned off because ORT's idle worker threads otherwise keep a core busy for ~50 ms after each run,
    which skews the timing of whatever runs next on a 2-core machine (see DESIGN's measured facts).
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        providers: list[str] | None = None,
        optimized_model_path: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.threads = threads or os.cpu_count() or 1
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimized_model_path is not None:
            options.optimized_model_filepath = str(optimized_model_path)
        self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return dict(zip(self.output_names, outputs, strict=True))

    def close(self) -> None:
        del self.session
