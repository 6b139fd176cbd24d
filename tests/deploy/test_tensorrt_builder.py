"""The TensorRT Python API call sequence, against a fake tensorrt module (TensorRT 8.5 and 10.3 paths)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing, sha256_file
from edgecv.deploy import trt_engine
from edgecv.deploy.trt_infer import EngineError
from edgecv.devices import load_device
from edgecv.errors import MissingDependencyError, ModelError
from edgecv.export.trt_options import TensorRTOptions
from edgecv.export.trt_plan import plan_build
from tests.deploy.onnx_models import classifier, save

IDENTITY_ORIN = {"tensorrt": "10.3.0.30", "gpu": "Orin", "compute_capability": "8.7"}
IDENTITY_XAVIER = {"tensorrt": "8.5.2.2", "gpu": "Xavier", "compute_capability": "7.2"}


def _build(
    tmp_path: Path, trt: Any, device: str, qdq: bool, identity: dict[str, Any], options: TensorRTOptions | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    onnx_path = save(classifier(qdq=qdq), tmp_path / "model.onnx")
    plan = plan_build(load_device(device), onnx_path, options).model_dump()
    sidecar = trt_engine.build_engine(
        onnx_path, tmp_path / "model.engine", plan, trt=trt, identity=identity, log=lambda _: None
    )
    return plan, sidecar


def _calls(trt: Any, name: str) -> list[tuple[Any, ...]]:
    return [c for c in trt.calls if c[0] == name]


def test_tensorrt_10_qdq_build_is_strongly_typed_with_sparsity_and_profile(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    plan, sidecar = _build(tmp_path, trt, "jetson-orin-nano-8gb", True, IDENTITY_ORIN)
    assert _calls(trt, "create_network") == [("create_network", ["STRONGLY_TYPED"])]
    assert _calls(trt, "set_flag") == [("set_flag", "SPARSE_WEIGHTS")]
    assert _calls(trt, "set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 1024 << 20)]
    assert ("config.profiling_verbosity", "DETAILED") in trt.calls
    assert _calls(trt, "profile.set_shape") == [
        ("profile.set_shape", "input", [1, 3, 16, 16], [1, 3, 16, 16], [32, 3, 16, 16])
    ]
    order = [c[0] for c in trt.calls]
    assert order.index("parse") < order.index("set_timing_cache") < order.index("build_serialized_network")
    assert sidecar["precision"] == "int8" and sidecar["strongly_typed"] and sidecar["built_with"] == "tensorrt-api"
    assert sidecar["tensorrt"] == "10.3.0.30" and sidecar["onnx_sha256"] == plan["onnx_sha256"]


def test_tensorrt_8_5_qdq_build_uses_explicit_batch_flags_and_dla(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("8.5.2.2")
    _, sidecar = _build(tmp_path, trt, "jetson-agx-xavier", True, IDENTITY_XAVIER)
    assert _calls(trt, "create_network") == [("create_network", ["EXPLICIT_BATCH"])]
    assert [c[1] for c in _calls(trt, "set_flag")] == ["FP16", "INT8", "GPU_FALLBACK"]
    assert ("config.default_device_type", "DLA") in trt.calls and ("config.DLA_core", 0) in trt.calls
    assert not _calls(trt, "add_optimization_profile")  # DLA: static shapes
    assert (sidecar["dla_core"], sidecar["strongly_typed"], sidecar["precision"]) == (0, False, "int8")


def test_engine_is_a_raw_plan_with_sidecar_layers_and_timing_cache(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    _, sidecar = _build(tmp_path, trt, "jetson-orin-nano-8gb", False, IDENTITY_ORIN)
    engine = tmp_path / "model.engine"
    assert engine.read_bytes().startswith(b"PLAN")  # exactly what build_serialized_network returned, no header
    assert sidecar["engine_sha256"] == sha256_file(engine)
    assert json.loads((tmp_path / "model.engine.json").read_text()) == sidecar
    assert sidecar["layers"]["by_precision"] == {"int8": 1, "fp16": 1, "fp32": 1}
    assert sidecar["layers"]["by_device"] == {"GPU": 2, "DLA": 1}
    assert json.loads((tmp_path / "model.engine.layers.json").read_text())["Layers"][0]["Name"] == "conv1"
    assert (tmp_path / "timing.cache").read_bytes() == b"+timing"


def test_timing_cache_is_reused_across_builds(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    _build(tmp_path, trt, "jetson-orin-nano-8gb", False, IDENTITY_ORIN)
    _build(tmp_path, trt, "jetson-orin-nano-8gb", False, IDENTITY_ORIN)
    assert [c[1] for c in _calls(trt, "create_timing_cache")] == [b"", b"+timing"]
    assert (tmp_path / "timing.cache").read_bytes() == b"+timing+timing"


def test_plan_for_10_x_built_on_8_x_falls_back_to_flags(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("8.6.1")
    onnx_path = save(classifier(qdq=True), tmp_path / "model.onnx")
    plan = plan_build(load_device("jetson-orin-nano-8gb"), onnx_path).model_dump()
    notes: list[str] = []
    sidecar = trt_engine.build_engine(
        onnx_path, tmp_path / "e.engine", plan, trt=trt, identity=IDENTITY_ORIN, log=notes.append
    )
    assert _calls(trt, "create_network") == [("create_network", ["EXPLICIT_BATCH"])]
    assert "INT8" in [c[1] for c in _calls(trt, "set_flag")] and not sidecar["strongly_typed"]
    assert any("planned for TensorRT 10.3" in n for n in notes)


def test_parse_errors_are_reported(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    plan = plan_build(load_device("jetson-orin-nano-8gb"), classifier()).model_dump()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"bad model")
    with pytest.raises(EngineError, match="cannot parse the ONNX: In node 0"):
        trt_engine.build_engine(bad, tmp_path / "m.engine", plan, trt=trt, identity=IDENTITY_ORIN)


def test_failed_build_is_an_error(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    trt.Builder.fail = True
    with pytest.raises(EngineError, match="failed to build"):
        _build(tmp_path, trt, "jetson-orin-nano-8gb", False, IDENTITY_ORIN)
    assert not (tmp_path / "model.engine").exists()


def _artifact(path: Path) -> ModelArtifact:
    return ModelArtifact(
        name="m-onnx",
        format="onnx",
        path=str(path),
        input=InputSpec(shape=(3, 16, 16)),
        preprocessing=Preprocessing(size=(16, 16)),
    )


def test_export_engine_uses_the_injected_module(tmp_path: Path, fake_trt: Callable) -> None:
    from edgecv.export.tensorrt import export_engine

    trt = fake_trt("10.3.0.30")
    onnx_path = save(classifier(qdq=True), tmp_path / "src.onnx")
    engine = export_engine(
        _artifact(onnx_path), load_device("jetson-orin-nano-8gb"), tmp_path / "out", identity=IDENTITY_ORIN
    )
    assert engine.format == "tensorrt-engine" and engine.precision == "int8"
    assert engine.targets == ["jetson-orin-nano-8gb"] and Path(engine.path).is_file()
    assert json.loads((tmp_path / "out" / "build_plan.json").read_text())["strongly_typed"] is True
    assert trt.calls  # the fake from sys.modules was used


def test_export_engine_without_tensorrt_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from edgecv.export.tensorrt import export_engine

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    onnx_path = save(classifier(), tmp_path / "src.onnx")
    with pytest.raises(MissingDependencyError, match="edgecv\\[tensorrt\\]"):
        export_engine(_artifact(onnx_path), load_device("jetson-orin-nano-8gb"), tmp_path / "out")


def test_export_engine_refuses_non_onnx(tmp_path: Path, fake_trt: Callable) -> None:
    from edgecv.export.tensorrt import export_engine

    fake_trt()
    art = _artifact(tmp_path / "m.pt").model_copy(update={"format": "torch"})
    with pytest.raises(ModelError, match="built from ONNX"):
        export_engine(art, load_device("jetson-orin-nano-8gb"), tmp_path / "out")
