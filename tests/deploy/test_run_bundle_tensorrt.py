"""run_bundle.py's TensorRT path (build if missing, sidecar check, CUDA-event latency) on a fake TensorRT + CUDA.

The real path needs a Jetson: see test_tensorrt_gpu.py (skipped without TensorRT and a GPU)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edgecv.deploy import run_bundle, trt_infer
from tests.deploy.fake_tensorrt import FakeCuda


@pytest.fixture
def trt_bundle(tiny_run: Path, tmp_path: Path, fake_trt: Callable, monkeypatch: pytest.MonkeyPatch) -> Path:
    from edgecv.export.bundle import deploy_run

    result = deploy_run(tiny_run, "jetson-orin-nano-8gb", out=tmp_path / "deploy", images=40)
    cuda = FakeCuda()
    fake_trt("10.3.0.30", cuda)
    monkeypatch.setattr(trt_infer, "cuda_backend", lambda: cuda)
    monkeypatch.delenv("TRTEXEC", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no trtexec here: the API path builds
    return result.folder


def _main(bundle: Path, out: Path, *extra: str) -> int:
    args = [
        "--bundle",
        str(bundle),
        "--backend",
        "tensorrt",
        "--build",
        "api",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--no-device-state",
        "--output",
        str(out),
        *extra,
    ]
    return run_bundle.main(args)


def test_builds_a_missing_engine_checks_its_sidecar_and_times_with_cuda_events(
    trt_bundle: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    assert _main(trt_bundle, out) == 0
    results = json.loads(out.read_text())
    assert results["backend"] == "tensorrt" and results["precision"] == "fp16"
    assert results["engine"]["tensorrt"] == "10.3.0.30" and results["engine"]["gpu"] == "Orin"
    assert results["engine"]["built_with"] == "tensorrt-api"
    assert results["accuracy"]["samples"] == 40
    assert [r["batch"] for r in results["latency"]] == [1, 2, 4, 8, 16, 32]
    assert all(r["timer"] == "cuda-events" and r["p50_ms"] == 0.25 for r in results["latency"])
    assert (trt_bundle / "model.engine").is_file() and (trt_bundle / "timing.cache").is_file()


def test_refuses_an_engine_from_another_tensorrt(
    trt_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(trt_bundle, tmp_path / "r.json") == 0
    sidecar_path = trt_bundle / "model.engine.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar_path.write_text(json.dumps({**sidecar, "tensorrt": "10.3.0.26"}))
    assert _main(trt_bundle, tmp_path / "r2.json") == 2
    err = capsys.readouterr().err
    assert "refusing to run this engine: built with TensorRT 10.3.0.26" in err and "--rebuild" in err
    assert _main(trt_bundle, tmp_path / "r3.json", "--rebuild") == 0


def test_write_sidecar_after_trtexec(trt_bundle: Path) -> None:
    (trt_bundle / "model.engine").write_bytes(b"PLAN-from-trtexec")
    (trt_bundle / "model.engine.layers.json").write_text(
        json.dumps(
            {
                "Layers": [
                    {"Name": "conv", "LayerType": "CaskConvolution", "Outputs": [{"Format/Datatype": "Half NCHW"}]}
                ]
            }
        )
    )
    assert run_bundle.main(["--bundle", str(trt_bundle), "--write-sidecar", "--built-with", "trtexec"]) == 0
    sidecar = json.loads((trt_bundle / "model.engine.json").read_text())
    assert sidecar["built_with"] == "trtexec" and sidecar["layers"]["by_precision"] == {"fp16": 1}
