"""build_engine.sh / trtexec flags per TensorRT version (8.2, 8.5, 10.3), checked against each version's flags."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgecv.devices import load_device
from edgecv.export.trt_options import TensorRTOptions
from edgecv.export.trt_plan import plan_build
from edgecv.export.trtexec import SOURCES, build_engine_script, trtexec_command, trtexec_flags
from tests.deploy.onnx_models import classifier

# Build flags each trtexec documents (see edgecv.export.trtexec's sources), by the name before '='.
COMMON = {
    "--onnx",
    "--saveEngine",
    "--minShapes",
    "--optShapes",
    "--maxShapes",
    "--fp16",
    "--int8",
    "--sparsity",
    "--useDLACore",
    "--allowGPUFallback",
    "--timingCacheFile",
    "--profilingVerbosity",
    "--exportLayerInfo",
}
VALID = {
    "8.2": COMMON | {"--explicitBatch", "--workspace", "--buildOnly"},
    "8.5": COMMON | {"--memPoolSize", "--buildOnly"},
    "10.3": COMMON | {"--memPoolSize", "--stronglyTyped", "--skipInference"},
}
GONE_IN_10 = {"--workspace", "--explicitBatch", "--buildOnly", "--minTiming", "--maxBatch", "--batch"}


def _names(command: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in command[1:]}


@pytest.mark.parametrize(
    ("device", "family", "qdq"),
    [
        ("jetson-nano-4gb", "8.2", False),
        ("jetson-agx-xavier", "8.5", False),
        ("jetson-agx-xavier", "8.5", True),
        ("jetson-orin-nano-8gb", "10.3", False),
        ("jetson-orin-nano-8gb", "10.3", True),
        ("jetson-agx-orin-64gb", "10.3", True),
    ],
)
def test_every_flag_is_valid_for_the_profiles_tensorrt(device: str, family: str, qdq: bool) -> None:
    plan = plan_build(load_device(device), classifier(qdq=qdq))
    names = _names(trtexec_command(plan))
    assert names <= VALID[family], names - VALID[family]
    if family == "10.3":
        assert not names & GONE_IN_10


def test_xavier_8_5_command() -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), classifier(qdq=True))
    assert trtexec_command(plan) == [
        "trtexec",
        "--onnx=model.onnx",
        "--saveEngine=model.engine",
        "--memPoolSize=workspace:1024",
        "--fp16",
        "--int8",
        "--useDLACore=0",
        "--allowGPUFallback",
        "--timingCacheFile=timing.cache",
        "--profilingVerbosity=detailed",
        "--exportLayerInfo=model.engine.layers.json",
        "--buildOnly",
    ]


def test_orin_nano_10_3_commands_fp32_and_qdq() -> None:
    device = load_device("jetson-orin-nano-8gb")
    fp = trtexec_command(plan_build(device, classifier()))
    assert fp[1:8] == [
        "--onnx=model.onnx",
        "--saveEngine=model.engine",
        "--minShapes=input:1x3x16x16",
        "--optShapes=input:1x3x16x16",
        "--maxShapes=input:32x3x16x16",
        "--memPoolSize=workspace:1024M",
        "--fp16",
    ]
    assert "--sparsity=enable" in fp and fp[-1] == "--skipInference"
    q = trtexec_command(plan_build(device, classifier(qdq=True)))
    assert "--stronglyTyped" in q and "--int8" not in q and "--fp16" not in q


def test_8_2_uses_workspace_and_explicit_batch() -> None:
    command = trtexec_command(plan_build(load_device("jetson-nano-4gb"), classifier()))
    assert "--explicitBatch" in command and "--workspace=1024" in command
    assert not any(a.startswith("--memPoolSize") for a in command)


def test_every_flag_cites_a_source() -> None:
    for device in ("jetson-nano-4gb", "jetson-agx-xavier", "jetson-orin-nano-8gb"):
        for flag in trtexec_flags(plan_build(load_device(device), classifier(qdq=device != "jetson-nano-4gb"))):
            assert any(tag in flag.source for tag in SOURCES), flag


def test_script_is_valid_bash_with_citations(tmp_path: Path) -> None:
    plan = plan_build(load_device("jetson-orin-nano-8gb"), classifier(qdq=True))
    script = build_engine_script(plan, "NVIDIA Jetson Orin Nano 8GB")
    assert script.startswith("#!/usr/bin/env bash")
    assert "[MIG10] https://docs.nvidia.com/deeplearning/tensorrt/" in script
    assert "--stronglyTyped" in script and "[README]" in script
    path = tmp_path / "build_engine.sh"
    path.write_text(script)
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_runs_trtexec_with_exactly_the_planned_arguments(tmp_path: Path) -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), classifier(), TensorRTOptions(dla=False))
    (tmp_path / "build_engine.sh").write_text(build_engine_script(plan))
    fake = tmp_path / "trtexec"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/args.txt"\n')
    fake.chmod(0o755)
    env = {**os.environ, "TRTEXEC": str(fake)}
    done = subprocess.run(["bash", "build_engine.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args.txt").read_text().split() == trtexec_command(plan)[1:]
    assert "no sidecar written" in done.stderr  # no run_bundle.py / tensorrt here


def test_script_without_trtexec_exits_2(tmp_path: Path) -> None:
    plan = plan_build(load_device("jetson-agx-xavier"), classifier())
    (tmp_path / "build_engine.sh").write_text(build_engine_script(plan))
    env = {**os.environ, "TRTEXEC": str(tmp_path / "missing")}
    done = subprocess.run(["bash", "build_engine.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "trtexec not found" in done.stderr
