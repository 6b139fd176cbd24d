"""ONNX Runtime runner (CPU by default)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx

from edgecv.runtime.base import Runner


def tensorrt_qdq_form(path: str | Path | onnx.ModelProto) -> bool:
    """Whether a graph quantizes float weights in the graph (QuantizeLinear on an initializer): TensorRT's explicit
    quantization form, which the device's engine runs with int32 sums. ONNX Runtime would fuse it into its own int8
    kernels, whose u8s8 products saturate on x86 without VNNI (:mod:`edgecv.quantize.cpu_isa`) and are not what the
    device computes; such a graph is run op by op in float instead (the exact fake quantization of those grids)."""
    model = path if isinstance(path, onnx.ModelProto) else onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    return any(n.op_type == "QuantizeLinear" and n.input[0] in initializers for n in model.graph.node)


class OrtRunner(Runner):
    """An ONNX Runtime session with a fixed thread count and worker spinning off.

    A graph in TensorRT's Q/DQ form runs without graph optimizations unless ``optimize`` says otherwise
    (:func:`tensorrt_qdq_form`). Spinning is turned off because ORT's idle worker threads otherwise keep a core
    busy for ~50 ms after each run, which skews the timing of whatever runs next on a 2-core machine (see DESIGN's
    measured facts).
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path | onnx.ModelProto,
        threads: int | None = None,
        providers: list[str] | None = None,
        optimized_model_path: str | Path | None = None,
        optimize: bool | None = None,
    ) -> None:
        import onnxruntime as ort

        if optimize is None:
            optimize = not tensorrt_qdq_form(path)

        options = ort.SessionOptions()
        self.threads = threads or os.cpu_count() or 1
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # optimize=False runs a Q/DQ graph op by op in float: fake quantization, the reference of its INT8 kernels;
        # None (default): off for a graph in TensorRT's Q/DQ form (see tensorrt_qdq_form), on otherwise
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else \
            ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if optimized_model_path is not None:
            options.optimized_model_filepath = str(optimized_model_path)
        source = path.SerializeToString() if isinstance(path, onnx.ModelProto) else str(path)  # a file or in memory
        self.session = ort.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.fixed_batch: int | None = first.shape[0] if first.shape and isinstance(first.shape[0], int) else None
        """The batch size a static-batch graph takes (None: dynamic); other batches run in chunks of it."""

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        step = self.fixed_batch
        if step is None or len(batch) == step or len(batch) % step:
            outputs = self.session.run(None, {self.input_name: batch})
            return dict(zip(self.output_names, outputs, strict=True))
        chunks = [self.session.run(None, {self.input_name: batch[i : i + step]}) for i in range(0, len(batch), step)]
        return {name: np.concatenate([c[k] for c in chunks]) for k, name in enumerate(self.output_names)}

    def close(self) -> None:
        del self.session
