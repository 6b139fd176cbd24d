"""TensorRT exporter: ONNX artifact -> engine (raw plan) + sidecar JSON + per-layer report, for one device profile.

Optional: TensorRT is imported only when an engine is built (``pip install edgecv[tensorrt]`` on a PC with an
NVIDIA GPU; JetPack on a Jetson). Engines are not portable across TensorRT versions or GPUs, so build where the
engine runs: on a Jetson, from a deploy bundle (``edgecv deploy``), or with this module on the device itself.

Example::

    engine = export_engine(onnx_artifact, load_device("jetson-orin-nano-8gb"), Path("out"))
    engine.path            # out/model.engine; out/model.engine.json says what built it
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgecv.artifacts import ModelArtifact, sha256_file
from edgecv.devices import DeviceProfile
from edgecv.errors import MissingDependencyError, ModelError
from edgecv.export.trt_options import TensorRTOptions
from edgecv.export.trt_plan import BuildPlan, plan_build


def _tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependencyError(
            "building TensorRT engines needs the tensorrt package and an NVIDIA GPU: pip install 'edgecv[tensorrt]' "
            "(on a Jetson it comes with JetPack); without a GPU, write a deploy bundle with `edgecv deploy` and "
            "build the engine on the device"
        ) from exc
    return tensorrt


def export_engine(
    artifact: ModelArtifact,
    device: DeviceProfile,
    out_dir: Path,
    options: TensorRTOptions | None = None,
    *,
    trt: Any = None,
    identity: dict[str, Any] | None = None,
) -> ModelArtifact:
    """Build an engine of ``artifact`` (ONNX) as :func:`plan_build` decides for ``device``; see the module doc.

    ``trt`` and ``identity`` replace the tensorrt module and the runtime's identity (tests pass fakes).
    """
    from edgecv.deploy import trt_engine
    from edgecv.deploy.trt_infer import EngineError

    if artifact.format != "onnx":
        raise ModelError(f"artifact {artifact.name} is {artifact.format}; TensorRT engines are built from ONNX")
    trt = trt or _tensorrt()
    plan: BuildPlan = plan_build(device, artifact.path, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_copy = out_dir / plan.onnx
    if Path(artifact.path).resolve() != onnx_copy.resolve():
        shutil.copyfile(artifact.path, onnx_copy)
    (out_dir / "build_plan.json").write_text(plan.model_dump_json(indent=2) + "\n")
    engine_path = out_dir / plan.engine
    try:
        trt_engine.build_engine(onnx_copy, engine_path, plan.model_dump(), trt=trt, identity=identity)
    except EngineError as exc:
        raise ModelError(str(exc)) from exc
    return ModelArtifact(
        name=f"{artifact.name}-trt-{device.name}",
        format="tensorrt-engine",
        path=str(engine_path),
        input=artifact.input,
        preprocessing=artifact.preprocessing,
        precision=plan.precision,
        size_bytes=engine_path.stat().st_size,
        params=artifact.params,
        macs=artifact.macs,
        sha256=sha256_file(engine_path),
        parent=artifact.name,
        arch=artifact.arch,
        targets=[device.name],
    )
