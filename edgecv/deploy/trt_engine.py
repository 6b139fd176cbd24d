"""Build a TensorRT engine from ONNX with the TensorRT Python API, and the sidecar JSON that says what built it.

Standalone (stdlib and numpy; tensorrt imported when used): it ships inside deploy bundles. ``plan`` is a
``build_plan.json`` as written by edgecv (``edgecv.export.trt_plan.BuildPlan``), a plain dict here.

The engine file is TensorRT's raw plan (no header); ``<engine>.json`` beside it records the TensorRT version,
GPU, compute capability, precision and the ONNX's sha256. :func:`check_engine` refuses an engine whose sidecar
does not match this runtime, because engines are not portable across TensorRT versions or GPUs.

API used (TensorRT Python API, 8.2-10.x): ``Builder.create_network`` with ``NetworkDefinitionCreationFlag``
``EXPLICIT_BATCH`` (before 10, where it is the only mode) or ``STRONGLY_TYPED`` (10+); ``OnnxParser.parse``;
``IBuilderConfig.set_flag`` (``FP16``, ``INT8``, ``SPARSE_WEIGHTS``, ``GPU_FALLBACK``),
``set_memory_pool_limit(MemoryPoolType.WORKSPACE)`` (8.4+; ``max_workspace_size`` before),
``default_device_type = DeviceType.DLA`` and ``DLA_core``, ``create_timing_cache``/``set_timing_cache``,
``profiling_verbosity = ProfilingVerbosity.DETAILED``, ``add_optimization_profile``;
``Builder.build_serialized_network``; ``ICudaEngine.create_engine_inspector().get_engine_information(
LayerInformationFormat.JSON)`` for each layer's precision and placement.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__:
    from .trt_infer import EngineError, import_tensorrt, runtime_identity
else:  # run from a bundle folder
    from trt_infer import EngineError, import_tensorrt, runtime_identity  # type: ignore[no-redef]

SIDECAR_FORMAT = "edgecv-engine-sidecar/1"


def version_tuple(text: str) -> tuple[int, int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", str(text))[:3]]
    return tuple([*numbers, 0, 0, 0][:3])  # type: ignore[return-value]


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- sidecar


def sidecar_path(engine_path: str | Path) -> Path:
    return Path(f"{engine_path}.json")


def make_sidecar(
    engine_path: Path,
    plan: dict[str, Any],
    identity: dict[str, Any],
    built_with: str,
    strongly_typed: bool,
    layers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What built ``engine_path``: the runtime's identity plus the plan's precision, shapes and ONNX digest."""
    return {
        "format": SIDECAR_FORMAT,
        "engine": engine_path.name,
        "engine_sha256": sha256_of(engine_path),
        "tensorrt": identity.get("tensorrt"),
        "gpu": identity.get("gpu"),
        "compute_capability": identity.get("compute_capability"),
        "precision": plan["precision"],
        "strongly_typed": strongly_typed,
        "dla_core": plan.get("dla_core"),
        "sparsity": plan.get("sparsity", False),
        "onnx_sha256": plan.get("onnx_sha256"),
        "device_profile": plan.get("device"),
        "shapes": {
            k: [b, *plan["input_shape"]]
            for k, b in (("min", plan["min_batch"]), ("opt", plan["opt_batch"]), ("max", plan["max_batch"]))
        },
        "built_with": built_with,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "layers": layers,
    }


def write_sidecar(engine_path: str | Path, sidecar: dict[str, Any]) -> Path:
    path = sidecar_path(engine_path)
    _write_atomic(path, (json.dumps(sidecar, indent=2) + "\n").encode())
    return path


def sidecar_mismatches(
    sidecar: dict[str, Any], identity: dict[str, Any], expected: dict[str, Any] | None = None
) -> list[str]:
    """Why an engine with this ``sidecar`` must not run on ``identity`` (a runtime_identity()); empty if it may.

    The TensorRT version must be the same (engines are tied to the version that built them); GPU name and
    compute capability must be the same where both sides know them. ``expected`` adds the ONNX digest and
    precision the caller wants (a stale engine from another model or plan is refused too).
    """
    problems = []
    if sidecar.get("format") != SIDECAR_FORMAT:
        problems.append(f"sidecar format is {sidecar.get('format')!r}, expected {SIDECAR_FORMAT!r}")
    for key, what in (("tensorrt", "TensorRT"), ("compute_capability", "compute capability"), ("gpu", "GPU")):
        built, here = sidecar.get(key), identity.get(key)
        if key == "tensorrt" and (built is None or here is None or str(built) != str(here)):
            problems.append(f"built with TensorRT {built}, this runtime is TensorRT {here}")
        elif key != "tensorrt" and built is not None and here is not None and str(built) != str(here):
            problems.append(f"built for {what} {built}, this device has {here}")
    for key, want in (expected or {}).items():
        if want is not None and sidecar.get(key) != want:
            problems.append(f"{key} is {sidecar.get(key)!r}, expected {want!r}")
    return problems


def check_engine(
    engine_path: str | Path, identity: dict[str, Any] | None = None, expected: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the engine's sidecar if it matches this runtime; raise EngineError saying why not and what to do."""
    engine_path = Path(engine_path)
    side = sidecar_path(engine_path)
    fix = f"rebuild it here: rm {engine_path.name} {side.name} && ./build_engine.sh (or run_bundle.py --rebuild)"
    if not engine_path.is_file():
        raise EngineError(f"{engine_path}: no engine file; build it with ./build_engine.sh")
    if not side.is_file():
        raise EngineError(f"{engine_path}: no sidecar {side.name}, so what built it is unknown; {fix}")
    sidecar = json.loads(side.read_text())
    identity = identity or runtime_identity()
    problems = sidecar_mismatches(sidecar, identity, expected)
    if sidecar.get("engine_sha256") and sidecar["engine_sha256"] != sha256_of(engine_path):
        problems.append("the engine file changed after its sidecar was written")
    if problems:
        raise EngineError(f"{engine_path}: refusing to run this engine: {'; '.join(problems)}; {fix}")
    return sidecar


# -- engine inspector


def _layer_precision(layer: dict[str, Any]) -> str:
    text = " ".join(str(o.get("Format/Datatype", "")) for o in layer.get("Outputs", []) if isinstance(o, dict))
    for token, name in (
        ("Int8", "int8"),
        ("Half", "fp16"),
        ("FP16", "fp16"),
        ("Int32", "int32"),
        ("Float", "fp32"),
        ("FP32", "fp32"),
    ):
        if token.lower() in text.lower():
            return name
    return str(layer.get("Precision", "unknown")).lower()


def summarize_layers(info: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """Per-layer precision and placement from the engine inspector's JSON (DETAILED verbosity).

    Precision is read from each layer's first output ``Format/Datatype``; placement is ``DLA`` for layers
    whose type or name says DLA (TensorRT folds DLA subgraphs into one such layer), else ``GPU``.
    """
    layers = info.get("Layers", []) if isinstance(info, dict) else info
    rows = []
    for layer in layers:
        if not isinstance(layer, dict):
            rows.append({"name": str(layer), "type": "?", "precision": "unknown", "device": "GPU"})
            continue
        kind, name = str(layer.get("LayerType", "?")), str(layer.get("Name", "?"))
        device = "DLA" if "dla" in kind.lower() or "dla" in name.lower() else "GPU"
        rows.append({"name": name, "type": kind, "precision": _layer_precision(layer), "device": device})
    return {
        "count": len(rows),
        "by_precision": dict(Counter(r["precision"] for r in rows)),
        "by_device": dict(Counter(r["device"] for r in rows)),
        "layers": rows,
    }


def inspect_engine(trt: Any, serialized: Any, logger: Any) -> dict[str, Any]:
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    inspector = engine.create_engine_inspector()
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


# -- build


def network_flags(trt: Any, version: tuple[int, int, int], strongly_typed: bool) -> int:
    flags = 0
    if version < (10, 0, 0):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def effective_typing(plan: dict[str, Any], version: tuple[int, int, int], log: Callable[[str], None]) -> bool:
    """The plan's typing, adjusted where this TensorRT differs from the profile's (said in the log)."""
    strongly = bool(plan.get("strongly_typed"))
    if version >= (11, 0, 0) and not strongly:
        log("TensorRT 11+ networks are strongly typed: building strongly typed (precision from the ONNX types)")
        return True
    if strongly and version < (10, 0, 0):
        log(f"TensorRT {'.'.join(map(str, version))} has no strongly typed networks: using builder flags")
        return False
    return strongly


def configure(
    trt: Any, builder: Any, config: Any, plan: dict[str, Any], strongly: bool, version: tuple[int, int, int]
) -> None:
    """Workspace, precision flags, DLA, sparsity, verbosity and the optimization profile."""
    workspace = int(plan["workspace_mb"]) << 20
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    else:  # TensorRT < 8.4
        config.max_workspace_size = workspace
    flags = list(plan.get("builder_flags", []))
    if strongly:
        flags = [f for f in flags if f not in ("FP16", "INT8")]
    elif plan["precision"] == "int8" and "INT8" not in flags:
        flags.append("INT8")
    for flag in flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if plan.get("dla_core") is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(plan["dla_core"])
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if plan.get("dynamic_batch"):
        shapes = [[b, *plan["input_shape"]] for b in (plan["min_batch"], plan["opt_batch"], plan["max_batch"])]
        profile = builder.create_optimization_profile()
        profile.set_shape(plan["input_name"], *shapes)
        config.add_optimization_profile(profile)


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    plan: dict[str, Any],
    *,
    trt: Any = None,
    identity: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build ``engine_path`` from ``onnx_path`` as ``plan`` says; write the timing cache, layer info and sidecar.

    Returns the sidecar. Raises EngineError when parsing or building fails (with TensorRT's messages).
    """
    trt = trt or import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    version = version_tuple(trt.__version__)
    if version[:2] != version_tuple(plan["tensorrt"])[:2]:
        log(f"note: the bundle was planned for TensorRT {plan['tensorrt']}, this is {trt.__version__}")
    strongly = effective_typing(plan, version, log)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, version, strongly))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse the ONNX: {errors}")
    config = builder.create_builder_config()
    configure(trt, builder, config, plan, strongly, version)
    cache_path = engine_path.parent / plan.get("timing_cache", "timing.cache")
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT {trt.__version__} failed to build the engine (see its messages above)")
    log(f"built {engine_path.name} in {time.perf_counter() - started:.1f}s")
    _write_atomic(engine_path, bytes(memoryview(serialized)))
    _write_atomic(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    layers = None
    try:
        info = inspect_engine(trt, serialized, logger)
        _write_atomic(
            engine_path.parent / plan.get("layer_info", f"{engine_path.name}.layers.json"),
            (json.dumps(info, indent=1) + "\n").encode(),
        )
        layers = {k: v for k, v in summarize_layers(info).items() if k != "layers"}
    except Exception as exc:  # the inspector is informative only
        log(f"note: engine inspector unavailable ({exc})")
    identity = identity or runtime_identity(trt)
    sidecar = make_sidecar(engine_path, plan, identity, "tensorrt-api", strongly, layers)
    write_sidecar(engine_path, sidecar)
    return sidecar
