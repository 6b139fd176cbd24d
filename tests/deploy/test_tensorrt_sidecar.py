"""The engine sidecar: match and mismatch logic, refusal messages, and the runner on a fake TensorRT + CUDA."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgecv.deploy import trt_engine
from edgecv.deploy.trt_infer import EngineError, TrtEngine, runtime_identity
from edgecv.devices import load_device
from edgecv.errors import UnsupportedError
from edgecv.export.trt_plan import plan_build
from tests.deploy.fake_tensorrt import CLASSES, FakeCuda
from tests.deploy.onnx_models import classifier, save

HERE = {"tensorrt": "10.3.0.30", "gpu": "Orin", "compute_capability": "8.7"}


def _sidecar(**changes: Any) -> dict[str, Any]:
    base = {"format": trt_engine.SIDECAR_FORMAT, **HERE, "precision": "int8", "onnx_sha256": "abc"}
    return {**base, **changes}


def test_matching_sidecar_has_no_mismatches() -> None:
    assert trt_engine.sidecar_mismatches(_sidecar(), HERE, {"onnx_sha256": "abc", "precision": "int8"}) == []


@pytest.mark.parametrize(
    ("changes", "identity", "expected", "message"),
    [
        ({"tensorrt": "10.3.0.26"}, HERE, None, "built with TensorRT 10.3.0.26, this runtime is TensorRT 10.3.0.30"),
        ({"tensorrt": "8.5.2.2"}, HERE, None, "built with TensorRT 8.5.2.2"),
        ({"compute_capability": "7.2"}, HERE, None, "built for compute capability 7.2, this device has 8.7"),
        ({"gpu": "Xavier"}, HERE, None, "built for GPU Xavier, this device has Orin"),
        ({}, HERE, {"onnx_sha256": "def"}, "onnx_sha256 is 'abc', expected 'def'"),
        ({}, HERE, {"precision": "fp16"}, "precision is 'int8', expected 'fp16'"),
        ({"format": "other"}, HERE, None, "sidecar format"),
        ({}, {**HERE, "tensorrt": None}, None, "this runtime is TensorRT None"),
    ],
)
def test_mismatches_are_named(changes: dict, identity: dict, expected: dict | None, message: str) -> None:
    problems = trt_engine.sidecar_mismatches(_sidecar(**changes), identity, expected)
    assert any(message in p for p in problems), problems


def test_unknown_gpu_on_either_side_is_not_a_mismatch() -> None:
    assert trt_engine.sidecar_mismatches(_sidecar(gpu=None), HERE) == []
    assert trt_engine.sidecar_mismatches(_sidecar(), {**HERE, "gpu": None, "compute_capability": None}) == []


def _engine(tmp_path: Path, sidecar: dict[str, Any] | None) -> Path:
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"PLAN-bytes")
    if sidecar is not None:
        trt_engine.write_sidecar(engine, {**sidecar, "engine_sha256": trt_engine.sha256_of(engine)})
    return engine


def test_check_engine_refuses_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    engine = _engine(tmp_path, _sidecar(tensorrt="8.5.2.2"))
    with pytest.raises(EngineError, match=r"refusing to run this engine: built with TensorRT 8.5.2.2.*build_engine.sh"):
        trt_engine.check_engine(engine, HERE)


def test_check_engine_refuses_a_missing_sidecar_or_a_changed_engine(tmp_path: Path) -> None:
    engine = _engine(tmp_path, None)
    with pytest.raises(EngineError, match=r"no sidecar model\.engine\.json"):
        trt_engine.check_engine(engine, HERE)
    engine = _engine(tmp_path, _sidecar())
    engine.write_bytes(b"PLAN-other")
    with pytest.raises(EngineError, match="changed after its sidecar"):
        trt_engine.check_engine(engine, HERE)
    assert trt_engine.check_engine(_engine(tmp_path, _sidecar()), HERE)["precision"] == "int8"


def test_runtime_identity_reads_tensorrt_and_the_gpu(fake_trt: Callable) -> None:
    trt = fake_trt("8.5.2.2")
    assert runtime_identity(trt, FakeCuda("Xavier", "7.2")) == {
        "tensorrt": "8.5.2.2",
        "gpu": "Xavier",
        "compute_capability": "7.2",
        "cuda_binding": "fake-cuda",
    }


def _built(tmp_path: Path, trt: Any) -> Path:
    onnx_path = save(classifier(), tmp_path / "model.onnx")
    plan = plan_build(load_device("jetson-orin-nano-8gb"), onnx_path).model_dump()
    trt_engine.build_engine(onnx_path, tmp_path / "model.engine", plan, trt=trt, identity=HERE, log=lambda _: None)
    return tmp_path / "model.engine"


def test_trt_engine_infers_through_device_buffers_and_times_with_events(tmp_path: Path, fake_trt: Callable) -> None:
    cuda = FakeCuda()
    trt = fake_trt("10.3.0.30", cuda)
    engine = TrtEngine(_built(tmp_path, trt), trt=trt, cuda=cuda)
    assert engine.batch_range() == (1, 32) and engine.input_name == "input" and engine.outputs == ["logits"]
    batch = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    out = engine.infer(batch)
    np.testing.assert_array_equal(out, batch.reshape(4, -1)[:, :CLASSES])
    assert engine.last_gpu_ms == 0.25
    engine.infer(batch[:2])  # smaller batch reuses the buffers
    engine.close()
    assert cuda.memory == {}


def test_tensorrt_runner_refuses_a_mismatched_engine(tmp_path: Path, fake_trt: Callable) -> None:
    from edgecv.runtime.tensorrt_runner import TensorRTRunner

    cuda = FakeCuda()
    trt = fake_trt("10.3.0.30", cuda)
    engine = _built(tmp_path, trt)
    with TensorRTRunner(engine, trt=trt, cuda=cuda, identity=HERE) as runner:
        batch = np.ones((2, 3, 16, 16), np.float32)
        assert runner.infer(batch).shape == (2, CLASSES) and runner.last_gpu_ms == 0.25
    with pytest.raises(UnsupportedError, match=r"this runtime is TensorRT 10\.4\.0"):
        TensorRTRunner(engine, trt=trt, cuda=cuda, identity={**HERE, "tensorrt": "10.4.0"})
    with pytest.raises(UnsupportedError, match="precision is 'fp16', expected 'int8'"):
        TensorRTRunner(engine, trt=trt, cuda=cuda, identity=HERE, expected={"precision": "int8"})


def test_undeserializable_engine_says_rebuild(tmp_path: Path, fake_trt: Callable) -> None:
    trt = fake_trt("10.3.0.30")
    bad = tmp_path / "x.engine"
    bad.write_bytes(b"garbage")
    with pytest.raises(EngineError, match="cannot deserialize"):
        TrtEngine(bad, trt=trt, cuda=FakeCuda())


def test_sidecar_json_is_plain_and_complete(tmp_path: Path, fake_trt: Callable) -> None:
    _built(tmp_path, fake_trt("10.3.0.30"))
    sidecar = json.loads((tmp_path / "model.engine.json").read_text())
    for key in ("tensorrt", "gpu", "compute_capability", "precision", "onnx_sha256", "engine_sha256", "shapes"):
        assert sidecar[key] is not None, key
    assert sidecar["shapes"]["max"] == [32, 3, 16, 16]
