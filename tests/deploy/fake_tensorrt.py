"""A fake ``tensorrt`` module and CUDA binding that record the builder's call sequence and run a toy "engine".

The fake engine's output is ``input.reshape(n, -1)[:, :CLASSES]``, so inference through TrtEngine can be checked
exactly. Only the API surface edgecv.deploy uses is faked; it is no stand-in for TensorRT's behaviour.
"""

from __future__ import annotations

import enum
import json
import time
import types
from typing import Any

import numpy as np

CLASSES = 10
LAYERS = {
    "Layers": [
        {"Name": "conv1", "LayerType": "CaskConvolution", "Outputs": [{"Format/Datatype": "Int8 NC/32HW32"}]},
        {"Name": "{ForeignNode[conv2...fc]}", "LayerType": "DLA", "Outputs": [{"Format/Datatype": "Half NCHW"}]},
        {"Name": "fc", "LayerType": "CaskGemm", "Outputs": [{"Format/Datatype": "Row major linear FP32"}]},
    ]
}


class FakeCuda:
    """Device memory as bytearrays keyed by fake pointers; events return a fixed 0.25 ms."""

    name = "fake-cuda"

    def __init__(self, gpu: str = "Orin", cc: str = "8.7") -> None:
        self.memory: dict[int, bytearray] = {}
        self.next_ptr = 4096
        self.gpu, self.cc = gpu, cc

    def malloc(self, nbytes: int) -> int:
        ptr, self.next_ptr = self.next_ptr, self.next_ptr + nbytes + 4096
        self.memory[ptr] = bytearray(nbytes)
        return ptr

    def free(self, ptr: int) -> None:
        del self.memory[ptr]

    def stream(self) -> str:
        return "stream"

    def handle(self, stream: Any) -> int:
        return 7

    def htod(self, ptr: int, host: np.ndarray, stream: Any) -> None:
        self.memory[ptr][: host.nbytes] = host.tobytes()

    def dtoh(self, host: np.ndarray, ptr: int, stream: Any) -> None:
        host[...] = np.frombuffer(bytes(self.memory[ptr][: host.nbytes]), dtype=host.dtype).reshape(host.shape)

    def sync(self, stream: Any) -> None:
        pass

    def event(self) -> dict[str, float]:
        return {}

    def record(self, event: dict[str, float], stream: Any) -> None:
        event["t"] = time.perf_counter()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return 0.25

    def device(self) -> tuple[str, str]:
        return self.gpu, self.cc


def _enum(name: str, members: list[str]) -> type[enum.IntEnum]:
    return enum.IntEnum(name, {m: i for i, m in enumerate(members)})


def make_fake_tensorrt(version: str, cuda: FakeCuda | None = None, input_shape: tuple[int, ...] = (3, 16, 16)) -> Any:
    """A module object named ``tensorrt`` with ``calls`` (the recorded API calls) and ``built`` (networks)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []
    trt.cuda = cuda or FakeCuda()
    record = trt.calls.append
    flags = ["EXPLICIT_BATCH"] + (["STRONGLY_TYPED"] if int(version.split(".")[0]) >= 10 else [])
    trt.NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", flags)
    trt.BuilderFlag = _enum("BuilderFlag", ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT", "SPARSE_WEIGHTS"])
    trt.MemoryPoolType = _enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"])
    trt.DeviceType = _enum("DeviceType", ["GPU", "DLA"])
    trt.ProfilingVerbosity = _enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE", "DETAILED"])
    trt.LayerInformationFormat = _enum("LayerInformationFormat", ["ONELINE", "JSON"])
    trt.TensorIOMode = _enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    trt.nptype = lambda dtype: np.float32

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    class Cache:
        def __init__(self, blob: bytes) -> None:
            self.blob = bytes(blob)

        def serialize(self) -> bytes:
            return self.blob + b"+timing"

    class Profile:
        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            record(("profile.set_shape", name, list(low), list(opt), list(high)))

    class Config:
        def __init__(self) -> None:
            self.cache: Cache | None = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            record(("set_memory_pool_limit", pool.name, size))

        def set_flag(self, flag: Any) -> None:
            record(("set_flag", flag.name))

        def __setattr__(self, key: str, value: Any) -> None:
            if key != "cache":
                record(("config." + key, getattr(value, "name", value)))
            object.__setattr__(self, key, value)

        def add_optimization_profile(self, profile: Profile) -> None:
            record(("add_optimization_profile",))

        def create_timing_cache(self, blob: bytes) -> Cache:
            record(("create_timing_cache", bytes(blob)))
            return Cache(blob)

        def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> None:
            record(("set_timing_cache", ignore_mismatch))
            self.cache = cache

        def get_timing_cache(self) -> Cache:
            return self.cache  # type: ignore[return-value]

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags

    class Builder:
        fail = False

        def __init__(self, logger: Logger) -> None:
            record(("Builder",))

        def create_network(self, flags: int) -> Network:
            names = [f.name for f in trt.NetworkDefinitionCreationFlag if flags & (1 << int(f))]
            record(("create_network", names))
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            record(("build_serialized_network",))
            return None if Builder.fail else b"PLAN" + bytes([network.flags])

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.errors: list[str] = []

        def parse(self, data: bytes) -> bool:
            record(("parse", len(data)))
            if data.startswith(b"bad"):
                self.errors = ["In node 0 (importModel): unsupported op"]
            return not self.errors

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[index]

    class Inspector:
        def get_engine_information(self, fmt: Any) -> str:
            return json.dumps(LAYERS)

    class Context:
        def __init__(self) -> None:
            self.shape: tuple[int, ...] = ()
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            self.shape = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return (self.shape[0], CLASSES)

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream: int) -> bool:
            n = self.shape[0]
            count = int(np.prod(self.shape))
            raw = bytes(trt.cuda.memory[self.addresses["input"]][: count * 4])
            x = np.frombuffer(raw, dtype=np.float32).reshape(n, -1)
            out = np.ascontiguousarray(x[:, :CLASSES])
            trt.cuda.memory[self.addresses["logits"]][: out.nbytes] = out.tobytes()
            return True

    class Engine:
        num_io_tensors = 2

        def create_engine_inspector(self) -> Inspector:
            return Inspector()

        def create_execution_context(self) -> Context:
            return Context()

        def get_tensor_name(self, index: int) -> str:
            return ["input", "logits"][index]

        def get_tensor_mode(self, name: str) -> Any:
            return trt.TensorIOMode.INPUT if name == "input" else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> str:
            return "float"

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return (-1, *input_shape)

        def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
            return [(1, *input_shape), (1, *input_shape), (32, *input_shape)]

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: Any) -> Engine | None:
            return Engine() if bytes(data).startswith(b"PLAN") else None

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    return trt
