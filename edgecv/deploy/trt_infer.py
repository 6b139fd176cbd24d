"""Run a serialized TensorRT engine: CUDA buffers and events through cuda-python or pycuda, TensorRT 8.x/10.x.

Standalone (numpy; tensorrt and a CUDA binding imported when used): it ships inside deploy bundles.

Example (on a Jetson)::

    engine = TrtEngine("model.engine")
    logits = engine.infer(batch)            # float32 NCHW in, first output out
    engine.last_gpu_ms                      # the enqueue, timed with CUDA events
    engine.close()

TensorRT 8.5 added the named-tensor API (``num_io_tensors``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``), the only one in 10.x; the binding API (``execute_async_v2``) is the fallback for 8.2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class EngineError(RuntimeError):
    """An engine cannot be used here; the message says why and what to do."""


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or an EngineError that says how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineError(
            "the TensorRT Python package is not importable: on a Jetson it comes with JetPack "
            "(sudo apt install python3-libnvinfer); on a PC: pip install edgecv[tensorrt]"
        ) from exc
    return tensorrt


class CudaPython:
    """CUDA runtime calls through cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before 12.8)."""

    name = "cuda-python"

    def __init__(self) -> None:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart  # type: ignore[no-redef]
        self.rt = cudart

    def _ok(self, result: Any) -> Any:
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self.rt.cudaError_t.cudaSuccess:
            raise EngineError(f"CUDA call failed: {err}")
        return values[0] if len(values) == 1 else None

    def malloc(self, nbytes: int) -> int:
        return int(self._ok(self.rt.cudaMalloc(nbytes)))

    def free(self, ptr: int) -> None:
        self._ok(self.rt.cudaFree(ptr))

    def stream(self) -> Any:
        return self._ok(self.rt.cudaStreamCreate())

    def handle(self, stream: Any) -> int:
        return int(stream)

    def htod(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._ok(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, stream))

    def dtoh(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._ok(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, stream))

    def sync(self, stream: Any) -> None:
        self._ok(self.rt.cudaStreamSynchronize(stream))

    def event(self) -> Any:
        return self._ok(self.rt.cudaEventCreate())

    def record(self, event: Any, stream: Any) -> None:
        self._ok(self.rt.cudaEventRecord(event, stream))

    def elapsed_ms(self, start: Any, end: Any) -> float:
        self._ok(self.rt.cudaEventSynchronize(end))
        return float(self._ok(self.rt.cudaEventElapsedTime(start, end)))

    def device(self) -> tuple[str, str]:
        props = self._ok(self.rt.cudaGetDeviceProperties(0))
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00").strip(), f"{props.major}.{props.minor}"


class PyCuda:
    """The same calls through pycuda (common on Jetsons)."""

    name = "pycuda"

    def __init__(self) -> None:
        import pycuda.autoinit  # noqa: F401 - creates the context
        import pycuda.driver as cuda

        self.cuda = cuda
        self._allocations: dict[int, Any] = {}

    def malloc(self, nbytes: int) -> int:
        allocation = self.cuda.mem_alloc(nbytes)
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, ptr: int) -> None:
        self._allocations.pop(ptr).free()

    def stream(self) -> Any:
        return self.cuda.Stream()

    def handle(self, stream: Any) -> int:
        return int(stream.handle)

    def htod(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        self.cuda.memcpy_htod_async(ptr, host, stream)

    def dtoh(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        self.cuda.memcpy_dtoh_async(host, ptr, stream)

    def sync(self, stream: Any) -> None:
        stream.synchronize()

    def event(self) -> Any:
        return self.cuda.Event()

    def record(self, event: Any, stream: Any) -> None:
        event.record(stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        end.synchronize()
        return float(start.time_till(end))

    def device(self) -> tuple[str, str]:
        dev = self.cuda.Device(0)
        major, minor = dev.compute_capability()
        return str(dev.name()), f"{major}.{minor}"


def cuda_backend() -> Any:
    """cuda-python if installed, else pycuda; an EngineError naming both if neither is."""
    for backend in (CudaPython, PyCuda):
        try:
            return backend()
        except ImportError:
            continue
    raise EngineError("no CUDA Python binding: pip install cuda-python (or install pycuda) on the device")


def runtime_identity(trt: Any = None, cuda: Any = None) -> dict[str, Any]:
    """What would run an engine here: TensorRT version, GPU name and compute capability (None where unknown)."""
    trt = trt or import_tensorrt()
    identity: dict[str, Any] = {"tensorrt": str(trt.__version__), "gpu": None, "compute_capability": None}
    try:
        cuda = cuda or cuda_backend()
        identity["gpu"], identity["compute_capability"] = cuda.device()
        identity["cuda_binding"] = cuda.name
    except EngineError as exc:
        identity["note"] = str(exc)
    return identity


class TrtEngine:
    """A deserialized engine with one execution context, one stream and device buffers grown on demand."""

    def __init__(self, engine_path: str | Path, *, trt: Any = None, cuda: Any = None) -> None:
        self.trt = trt or import_tensorrt()
        self.cuda = cuda or cuda_backend()
        self.runtime = self.trt.Runtime(self.trt.Logger(self.trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise EngineError(
                f"{engine_path}: TensorRT {self.trt.__version__} cannot deserialize this engine (built by another "
                "TensorRT version or for another GPU?); rebuild it on this device with build_engine.sh"
            )
        self.context = self.engine.create_execution_context()
        self.v3 = hasattr(self.engine, "num_io_tensors")
        names = self._io_names()
        self.inputs = [n for n in names if self._is_input(n)]
        self.outputs = [n for n in names if not self._is_input(n)]
        if len(self.inputs) != 1:
            raise EngineError(f"{engine_path}: expected one input tensor, found {self.inputs}")
        self.input_name = self.inputs[0]
        self.stream = self.cuda.stream()
        self.start, self.end = self.cuda.event(), self.cuda.event()
        self.buffers: dict[str, tuple[int, int]] = {}
        self.last_gpu_ms = 0.0

    # -- engine description, across the two APIs

    def _io_names(self) -> list[str]:
        if self.v3:
            return [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        return [self.engine.get_binding_name(i) for i in range(self.engine.num_bindings)]

    def _is_input(self, name: str) -> bool:
        if self.v3:
            return self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT
        return bool(self.engine.binding_is_input(self.engine.get_binding_index(name)))

    def dtype(self, name: str) -> np.dtype:
        if self.v3:
            return np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))
        return np.dtype(self.trt.nptype(self.engine.get_binding_dtype(self.engine.get_binding_index(name))))

    def batch_range(self) -> tuple[int, int]:
        """The smallest and largest batch the engine's first optimization profile accepts."""
        name = self.input_name
        if self.v3:
            shape = list(self.engine.get_tensor_shape(name))
            if shape[0] >= 0:
                return shape[0], shape[0]
            low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        else:
            index = self.engine.get_binding_index(name)
            shape = list(self.engine.get_binding_shape(index))
            if shape[0] >= 0:
                return shape[0], shape[0]
            low, _, high = self.engine.get_profile_shape(0, index)
        return int(low[0]), int(high[0])

    # -- inference

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self.buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self.cuda.free(ptr)
            ptr, size = self.cuda.malloc(nbytes), nbytes
            self.buffers[name] = (ptr, size)
        return ptr

    def _set_shape(self, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        if self.v3:
            self.context.set_input_shape(self.input_name, shape)
            return [tuple(self.context.get_tensor_shape(o)) for o in self.outputs]
        self.context.set_binding_shape(self.engine.get_binding_index(self.input_name), shape)
        return [tuple(self.context.get_binding_shape(self.engine.get_binding_index(o))) for o in self.outputs]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; return the first output (see infer_all)."""
        return next(iter(self.infer_all(batch).values()))

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch; return every output by name. ``last_gpu_ms`` is the enqueue timed with CUDA events."""
        batch = np.ascontiguousarray(batch, dtype=self.dtype(self.input_name))
        out_shapes = self._set_shape(tuple(batch.shape))
        hosts = [np.empty(s, dtype=self.dtype(o)) for o, s in zip(self.outputs, out_shapes, strict=True)]
        pointers = {self.input_name: self._buffer(self.input_name, batch.nbytes)}
        pointers.update({o: self._buffer(o, h.nbytes) for o, h in zip(self.outputs, hosts, strict=True)})
        self.cuda.htod(pointers[self.input_name], batch, self.stream)
        self.cuda.record(self.start, self.stream)
        if self.v3:
            for name, ptr in pointers.items():
                self.context.set_tensor_address(name, ptr)
            ok = self.context.execute_async_v3(self.cuda.handle(self.stream))
        else:
            bindings = [pointers[n] for n in self._io_names()]
            ok = self.context.execute_async_v2(bindings, self.cuda.handle(self.stream))
        self.cuda.record(self.end, self.stream)
        if not ok:
            raise EngineError(f"TensorRT failed to enqueue a batch of shape {batch.shape}")
        for name, host in zip(self.outputs, hosts, strict=True):
            self.cuda.dtoh(host, pointers[name], self.stream)
        self.cuda.sync(self.stream)
        self.last_gpu_ms = self.cuda.elapsed_ms(self.start, self.end)
        return dict(zip(self.outputs, hosts, strict=True))

    def close(self) -> None:
        for ptr, _ in self.buffers.values():
            self.cuda.free(ptr)
        self.buffers.clear()
        self.context = self.engine = self.runtime = None
