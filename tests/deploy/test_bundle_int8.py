"""Bundles of Q/DQ (INT8) models: detected from the graph, not from a name, so INT8 artifacts of any quantize stage
get int8 engines; a model the static check rejects is refused unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing
from edgecv.deploy import run_bundle
from edgecv.devices import load_device
from edgecv.errors import UnsupportedError
from edgecv.export.bundle import verify_bundle, write_bundle
from edgecv.export.bundle_source import BundleSource
from tests.deploy.onnx_models import classifier, save

LABELS = [f"class{i}" for i in range(10)]


def _source(tmp_path: Path, **model: bool) -> BundleSource:
    path = save(classifier(**model), tmp_path / "model_int8.onnx")
    pre = Preprocessing(size=(16, 16), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), labels=LABELS)
    artifact = ModelArtifact(
        name="quantized-onnx",
        format="onnx",
        path=str(path),
        input=InputSpec(shape=(3, 16, 16)),
        preprocessing=pre,
        precision="int8",
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 3, 16, 16), dtype=np.uint8)
    return BundleSource(artifact=artifact, labels=LABELS, images=images, targets=rng.integers(0, 10, 24))


def _run_on_onnxruntime(bundle: Path, out: Path, batch_sizes: str) -> int:
    """Run the bundle's runner on ONNX Runtime: 2 timed runs, no warm-up, no device state."""
    return run_bundle.main([
        "--bundle", str(bundle), "--backend", "onnxruntime", "--runs", "2", "--warmup", "0",
        "--no-device-state", "--batch-sizes", batch_sizes, "--output", str(out),
    ])


def test_qdq_bundle_for_tensorrt_10_3_is_strongly_typed_int8(tmp_path: Path) -> None:
    result = write_bundle(_source(tmp_path, qdq=True), load_device("jetson-orin-nano-8gb"), tmp_path / "out")
    script = (result.folder / "build_engine.sh").read_text()
    assert "--stronglyTyped" in script and "--int8" not in script.split("set -euo")[1]
    assert "network-mode=1" in (result.folder / "deepstream_config.txt").read_text()
    assert result.manifest["precision"] == "int8" and verify_bundle(result.tarball).ok
    assert "class0;class1" in (result.folder / "deepstream_labels.txt").read_text()


def test_qdq_bundle_for_tensorrt_8_5_uses_int8_and_fp16_flags(tmp_path: Path) -> None:
    result = write_bundle(_source(tmp_path, qdq=True), load_device("jetson-agx-xavier"), tmp_path / "out")
    command = result.manifest["trtexec"]
    assert "--int8" in command and "--fp16" in command and "--stronglyTyped" not in command
    assert "--useDLACore=0" in command and "--allowGPUFallback" in command


def test_qdq_bundle_runs_in_onnxruntime_mode(tmp_path: Path) -> None:
    result = write_bundle(_source(tmp_path, qdq=True), load_device("jetson-orin-nano-8gb"), tmp_path / "out")
    # TensorRT's Q/DQ form (weights quantized in the graph): the runner's ONNX Runtime mode runs it op by op in
    # float, as edgecv scored it, so the predictions below match on any CPU (int8 kernels saturate without VNNI)
    assert json.loads((result.folder / "build_plan.json").read_text())["ort_fake_quantized"] is True
    out = tmp_path / "results.json"
    assert _run_on_onnxruntime(result.folder, out, "1,4") == 0
    results = json.loads(out.read_text())
    assert results["accuracy"]["predictions"] == result.manifest["accuracy"]["edgecv_on_bundle_images"]["predictions"]
    assert [r["batch"] for r in results["latency"]] == [1, 4]


def test_a_model_the_static_check_rejects_is_refused_unless_forced(tmp_path: Path) -> None:
    source = _source(tmp_path, qdq=True, uint8_activations=True)
    device = load_device("jetson-orin-nano-8gb")
    with pytest.raises(UnsupportedError, match=r"will not build on jetson-orin-nano-8gb.*\[qdq-uint8\].*edgecv check"):
        write_bundle(source, device, tmp_path / "out")
    assert not (tmp_path / "out" / "jetson-orin-nano-8gb-quantized-onnx").exists()
    forced = write_bundle(source, device, tmp_path / "out", force=True)
    assert not forced.manifest["tensorrt_check"]["ok"] and forced.manifest["tensorrt_check"]["problems"]


def test_rewriting_a_bundle_replaces_it_atomically(tmp_path: Path) -> None:
    device = load_device("jetson-orin-nano-8gb")
    first = write_bundle(_source(tmp_path), device, tmp_path / "out")
    (first.folder / "stale.txt").write_text("from an older bundle")
    second = write_bundle(_source(tmp_path), device, tmp_path / "out")
    assert second.folder == first.folder and not (second.folder / "stale.txt").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.folder.name, first.tarball.name]


def test_empty_val_set_still_measures_latency(tmp_path: Path) -> None:
    source = _source(tmp_path)
    source.images, source.targets = source.images[:0], source.targets[:0]
    result = write_bundle(source, load_device("jetson-orin-nano-8gb"), tmp_path / "out")
    assert result.manifest["accuracy"]["edgecv_on_bundle_images"] is None
    out = tmp_path / "r.json"
    assert _run_on_onnxruntime(result.folder, out, "1") == 0
    assert json.loads(out.read_text())["accuracy"] is None
