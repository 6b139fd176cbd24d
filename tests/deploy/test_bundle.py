"""Deploy bundles from a real (tiny, FP32) run: contents, manifest verification, the runner in its ONNX Runtime
mode (same top-1 as edgecv on the same images), and importing device results into the run's report."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from edgecv.artifacts import Preprocessing, sha256_file
from edgecv.cli import app
from edgecv.export.bundle import verify_bundle
from edgecv.report.build import load_report

DEVICE = "jetson-orin-nano-8gb"
runner = CliRunner()


def _deploy(run_dir: Path, device: str, out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["deploy", str(run_dir), "--device", device, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    folders = [p for p in out.iterdir() if p.is_dir() and p.name.startswith(device)]
    assert len(folders) == 1
    return folders[0]


@pytest.fixture(scope="module")
def bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _deploy(tiny_run, DEVICE, tmp_path_factory.mktemp("bundles"))


def test_bundle_has_every_part_and_its_manifest_verifies(bundle: Path) -> None:
    names = {p.name for p in bundle.iterdir()}
    assert {
        "model.onnx",
        "labels.txt",
        "preprocessing.json",
        "val.npz",
        "build_plan.json",
        "build_engine.sh",
        "deepstream_config.txt",
        "deepstream_labels.txt",
        "run_bundle.py",
        "trt_engine.py",
        "trt_infer.py",
        "device_state.py",
        "README.md",
        "manifest.json",
    } <= names
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["sha256"] == sha256_file(bundle / "model.onnx")
    assert manifest["device_profile"]["name"] == DEVICE and manifest["versions"]["target"]["tensorrt"] == "10.3"
    assert manifest["accuracy"]["edgecv_validation"]["top1"] is not None
    assert manifest["tensorrt_check"]["ok"] and manifest["trtexec"][0] == "trtexec"
    result = verify_bundle(bundle)
    assert result.ok and result.checked == len(manifest["files"])
    tarball = bundle.parent / f"{bundle.name}.tar.gz"
    assert verify_bundle(tarball).ok
    assert tarball.stat().st_mode & 0o777 == 0o644
    with tarfile.open(tarball) as tar:
        assert all(m.name.startswith(f"{bundle.name}/") or m.name == bundle.name for m in tar.getmembers())


def test_verify_catches_changed_missing_and_extra_files(bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / bundle.name
    shutil.copytree(bundle, copy)
    (copy / "model.engine").write_bytes(b"device output")  # allowed: written on the device
    assert verify_bundle(copy).ok
    (copy / "labels.txt").write_text("tampered\n")
    (copy / "val.npz").unlink()
    (copy / "notes.txt").write_text("?")
    problems = verify_bundle(copy).problems
    assert any("labels.txt: sha256 differs" in p for p in problems)
    assert any("val.npz: missing" in p for p in problems)
    assert any("notes.txt: not in the manifest" in p for p in problems)


def test_val_set_is_uint8_at_the_model_size_with_labels(bundle: Path) -> None:
    pre = json.loads((bundle / "preprocessing.json").read_text())
    with np.load(bundle / "val.npz") as data:
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.uint8 and images.shape[1:] == (3, *pre["size"])
    assert len(images) == len(labels) > 0 and labels.dtype == np.int64


def _run_bundle(folder: Path, *args: str) -> dict:
    """Run the bundle's runner in a fresh interpreter where edgecv and torch cannot be imported."""
    code = (
        "import runpy, sys; sys.modules['edgecv'] = None; sys.modules['torch'] = None; "
        f"sys.argv = ['run_bundle.py', *{list(args)!r}]; runpy.run_path('run_bundle.py', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((folder / "results.json").read_text())


def _edgecv_top1(bundle: Path) -> tuple[float, list[int]]:
    """edgecv's own evaluation (to_model_input + OrtRunner) of the bundled images."""
    from edgecv.data import make_loader
    from edgecv.runtime import OrtRunner
    from edgecv.validate.accuracy import runner_logits

    pre = Preprocessing.model_validate_json((bundle / "preprocessing.json").read_text())
    with np.load(bundle / "val.npz") as data:
        dataset = TensorDataset(torch.from_numpy(data["images"]), torch.from_numpy(data["labels"]))
    with OrtRunner(bundle / "model.onnx") as ort_runner:
        logits, targets = runner_logits(ort_runner, make_loader(dataset, pre, 50))
    predicted = logits.argmax(axis=1)
    return float((predicted == targets).mean() * 100), predicted.tolist()


def test_runner_in_onnxruntime_mode_matches_edgecv_top1_exactly(bundle: Path) -> None:
    results = _run_bundle(bundle, "--backend", "onnxruntime", "--runs", "5", "--warmup", "1", "--no-device-state")
    top1, predictions = _edgecv_top1(bundle)
    assert results["accuracy"]["top1"] == top1
    assert results["accuracy"]["predictions"] == predictions
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["accuracy"]["edgecv_on_bundle_images"]["top1"] == top1
    assert [r["batch"] for r in results["latency"]] == [1, 2, 4, 8, 16, 32]
    for r in results["latency"]:
        assert r["runs"] == 5 and r["p50_ms"] <= r["p99_ms"] and r["throughput"] > 0


def test_runner_preprocessing_is_bitwise_edgecvs() -> None:
    from edgecv.data.transforms import to_model_input
    from edgecv.deploy.run_bundle import preprocess

    pre = Preprocessing(size=(8, 8), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), channel_order="BGR")
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    ours = preprocess(images, pre.model_dump())
    theirs = np.stack([to_model_input(torch.from_numpy(i), pre).numpy() for i in images])
    np.testing.assert_array_equal(ours, theirs)


def _as_device_results(bundle: Path, tmp_path: Path) -> Path:
    results = _run_bundle(bundle, "--backend", "onnxruntime", "--runs", "3", "--warmup", "1", "--no-device-state")
    results.update(backend="tensorrt", precision="fp16")  # stand-in for a Jetson's results.json
    for r in results["latency"]:
        r["timer"] = "cuda-events"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_report_import_merges_device_results(bundle: Path, tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = {(v.artifact, v.device): v for v in load_report(run_dir).validations}
    results_path = _as_device_results(bundle, tmp_path)
    result = runner.invoke(app, ["report", str(run_dir), "--import", str(results_path)])
    assert result.exit_code == 0, result.output
    report = load_report(run_dir)
    entry = next(v for v in report.validations if v.device == DEVICE)
    old = before[(entry.artifact, DEVICE)]
    assert old.latency_source == "estimated" and entry.latency_source == "imported"
    assert entry.estimated == old.latency and entry.backend == "tensorrt" and entry.precision == "fp16"
    results = json.loads(results_path.read_text())
    assert entry.metrics["device_top1"] == results["accuracy"]["top1"]
    assert entry.metrics["top1"] == old.metrics["top1"]
    assert [r.batch for r in entry.latency] == [r["batch"] for r in results["latency"]]
    assert (run_dir / "imports" / f"{DEVICE}-{entry.artifact}.json").is_file()
    assert "measured on the device" in (run_dir / "report.md").read_text()


def test_report_import_refuses_onnxruntime_results_and_other_models(
    bundle: Path, tiny_run: Path, tmp_path: Path
) -> None:
    path = _as_device_results(bundle, tmp_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "backend": "onnxruntime"}))
    result = runner.invoke(app, ["report", str(tiny_run), "--import", str(path)])
    assert result.exit_code == 2 and "only device measurements are imported" in result.output
    path.write_text(json.dumps({**data, "onnx_sha256": "0" * 64}))
    result = runner.invoke(app, ["report", str(tiny_run), "--import", str(path)])
    assert result.exit_code == 2 and "another ONNX file" in result.output


def test_xavier_bundle_targets_tensorrt_8_5_with_dla(tiny_run: Path, tmp_path: Path) -> None:
    folder = _deploy(tiny_run, "jetson-agx-xavier", tmp_path)
    script = (folder / "build_engine.sh").read_text()
    assert "--memPoolSize=workspace:1024 " in script + " " and "--useDLACore=0" in script
    assert "--stronglyTyped" not in script and "--skipInference" not in script and "--buildOnly" in script
    config = (folder / "deepstream_config.txt").read_text()
    assert "network-mode=2" in config and "enable-dla=1" in config and "network-type=1" in config
    assert verify_bundle(folder).ok


def test_deploy_errors_exit_2(tiny_run: Path, tmp_path: Path) -> None:
    for args, message in [
        (["--device", "host-cpu"], "bundles are for TensorRT devices"),
        (["--device", "jetson-orin-nano-8gb", "--artifact", "nope"], "no ONNX artifact 'nope'"),
        (["--device", "jetson-nano-4gbb"], "did you mean"),
    ]:
        result = runner.invoke(app, ["deploy", str(tiny_run), "--out", str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.output, result.output
    result = runner.invoke(app, ["deploy", str(tmp_path), "--device", DEVICE])
    assert result.exit_code == 2 and "no report.json" in result.output
