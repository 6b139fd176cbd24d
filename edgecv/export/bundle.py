"""Deploy bundles: everything a Jetson needs to build, run and measure one model, in a folder and a tarball.

A bundle holds the ONNX model, labels, preprocessing, ``build_plan.json`` (the engine decisions for the device's
profile), ``build_engine.sh`` (the exact trtexec command for its TensorRT version), a DeepStream nvinfer config,
a small val set (``val.npz``: uint8 images at the model's size and their ground truth, in the task's arrays: see
``Task.bundle_val``), ``task.json`` (what the runner scores), the runner (``run_bundle.py`` and its modules: numpy +
TensorRT on the device, or ONNX Runtime anywhere) and ``manifest.json`` (sha256 of every file,
versions, the device profile, the accuracy edgecv measured). Both the folder and the tarball are written under
temporary names and renamed into place.

Example::

    result = write_bundle(source_from_run(run_dir, device, None, 200), device, run_dir / "deploy")
    verify_bundle(result.tarball).ok        # True
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecv import __version__
from edgecv.artifacts import atomic_path, sha256_file
from edgecv.devices import DeviceProfile
from edgecv.errors import UnsupportedError
from edgecv.export.bundle_source import BundleSource
from edgecv.export.trt_options import TensorRTOptions
from edgecv.export.trt_plan import BuildPlan, plan_build
from edgecv.export.trtexec import build_engine_script, trtexec_command

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "edgecv-bundle/1"
RUNNER_MODULES = (
    "run_bundle.py",
    "trt_engine.py",
    "trt_infer.py",
    "device_state.py",
    "task_scores.py",
    "detection_postprocess.py",
    "detection_metrics.py",
    "box_geometry.py",
    "segmentation_metrics.py",
)
"""The runner and its modules (``edgecv/deploy/``, numpy only): every bundle carries all of them, so one runner
scores any task (``task.json`` says which)."""
DEVICE_OUTPUTS = ("model.engine", "model.engine.json", "model.engine.layers.json", "timing.cache", "results.json")
"""Files the device writes into a bundle; verify_bundle does not count them as tampering."""


@dataclass
class BundleResult:
    folder: Path
    tarball: Path
    manifest: dict[str, Any]
    plan: BuildPlan


@dataclass
class VerifyResult:
    """Whether every file the manifest lists is present with its sha256; ``problems`` says what is not."""

    path: Path
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def bundle_name(device: DeviceProfile, source: BundleSource) -> str:
    return f"{device.name}-{source.artifact.name}"


def edgecv_accuracy_on_images(source: BundleSource) -> dict[str, Any] | None:
    """edgecv's own ONNX Runtime evaluation of the bundled images (the figure the device's is compared with):
    the task's loader and evaluator on the very arrays val.npz holds."""
    if len(source.images) == 0:
        return None
    from edgecv.runtime import OrtRunner
    from edgecv.tasks import get_task
    from edgecv.validate.accuracy import evaluate_runner

    task = get_task(source.task)
    loader = task.loader(task.bundle_dataset(source.val_arrays()), source.artifact.preprocessing, 64)
    with OrtRunner(source.artifact.path) as runner:
        if source.task == "classification":
            return _classification_figures(runner, loader, source)
        metrics = evaluate_runner(runner, loader, source.labels, task)
    keep = {k: v for k, v in metrics.items() if k not in ("confusion",)}
    return {**keep, "samples": len(source.images), "backend": "onnxruntime-cpu"}


def _classification_figures(runner: Any, loader: Any, source: BundleSource) -> dict[str, Any]:
    """Top-1/top-5 with the predictions, as the bundle's runner reports them."""
    from edgecv.tasks import get_task
    from edgecv.validate.accuracy import runner_logits

    logits, targets = runner_logits(runner, loader)
    metrics = get_task("classification").evaluate({"logits": logits}, targets, source.labels)
    predicted = logits.argmax(axis=1)
    return {
        "samples": metrics["samples"],
        "correct": int((predicted == targets).sum()),
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "predictions": predicted.tolist(),
        "backend": "onnxruntime-cpu",
    }


def _static_check(onnx_path: Path, device: DeviceProfile, force: bool) -> dict[str, Any]:
    from edgecv.export.tensorrt_rules import check_for_device

    result = check_for_device(onnx_path, device)
    problems = [f"[{p.rule}] {p.node} ({p.op_type}): {p.message}" for p in result.problems]
    if not result.ok and not force:
        raise UnsupportedError(
            f"{onnx_path.name} will not build on {device.name} (TensorRT {device.software.tensorrt}): "
            f"{problems[0]}{f' (+{len(problems) - 1} more)' if len(problems) > 1 else ''}; "
            "see `edgecv check` for every problem, or pass --force to bundle it anyway"
        )
    return {"ok": result.ok, "tensorrt": result.tensorrt, "opset": result.opset, "problems": problems}


def _readme(device: DeviceProfile, plan: BuildPlan, name: str, source: BundleSource, info: dict[str, Any]) -> str:
    from edgecv.tasks import get_task

    art = source.artifact
    network_type = get_task(source.task).deepstream_network_type
    return "\n".join(
        [
            f"# {name}",
            "",
            f"For {device.display_name} (JetPack {device.software.jetpack}, TensorRT {device.software.tensorrt}).",
            "",
            f"Model: `{art.name}` ({art.precision} ONNX, engine {plan.precision}): {source.why}.",
            "",
            "On the device, in this folder:",
            "",
            "    ./build_engine.sh                 # trtexec -> model.engine (+ model.engine.json sidecar)",
            "    python3 run_bundle.py             # accuracy on val.npz, latency sweep, device state -> results.json",
            "",
            "run_bundle.py builds the engine itself when it is missing (trtexec, else the TensorRT Python API) and",
            "refuses an engine whose sidecar names another TensorRT version, GPU, model or precision.",
            "Back on the machine with the run: `edgecv report RUN_DIR --import results.json`.",
            "Without a GPU: `python3 run_bundle.py --backend onnxruntime` runs the same measurement on ONNX Runtime.",
            "",
            f"Task: {source.task}. {info.get('metric', '')}",
            "",
            f"Engine: {plan.precision}, " + ("; ".join(plan.notes)) + ".",
            f"DeepStream: deepstream_config.txt (Gst-nvinfer, network-type={network_type}; read its comments) and "
            "deepstream_labels.txt.",
            "",
        ]
    )


def _write_files(folder: Path, source: BundleSource, device: DeviceProfile, plan: BuildPlan) -> None:
    from edgecv.tasks import get_task

    task = get_task(source.task)
    pre = source.artifact.preprocessing
    shutil.copyfile(source.artifact.path, folder / plan.onnx)
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in source.labels))
    (folder / "preprocessing.json").write_text(pre.model_dump_json(indent=2) + "\n")
    info = task.bundle_info(source.labels, plan.output_names)
    (folder / "task.json").write_text(json.dumps(info, indent=2) + "\n")
    np.savez_compressed(folder / "val.npz", **source.val_arrays())
    (folder / "build_plan.json").write_text(plan.model_dump_json(indent=2) + "\n")
    script = folder / "build_engine.sh"
    script.write_text(build_engine_script(plan, device.display_name))
    script.chmod(0o755)
    config, labels_file = task.deepstream_files(plan, pre, source.labels)
    (folder / "deepstream_config.txt").write_text(config)
    (folder / "deepstream_labels.txt").write_text(labels_file)
    runner_dir = Path(__file__).resolve().parent.parent / "deploy"
    for module in RUNNER_MODULES:
        shutil.copyfile(runner_dir / module, folder / module)
    (folder / "run_bundle.py").chmod(0o755)
    (folder / "README.md").write_text(_readme(device, plan, bundle_name(device, source), source, info))


def _manifest(
    folder: Path, source: BundleSource, device: DeviceProfile, plan: BuildPlan, check: dict[str, Any], name: str
) -> dict[str, Any]:
    files = {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    return {
        "format": MANIFEST_FORMAT,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "edgecv_version": __version__,
        "device": device.name,
        "artifact": source.artifact.name,
        "task": source.task,
        "precision": plan.precision,
        "artifact_precision": source.artifact.precision,
        "why": source.why,
        "run_dir": str(source.run_dir) if source.run_dir else None,
        "recipe_hash": source.recipe_hash,
        "versions": {
            "edgecv": __version__,
            "libraries": source.libraries,
            "target": {
                "jetpack": device.software.jetpack,
                "tensorrt": device.software.tensorrt,
                "cuda": device.software.cuda,
            },
        },
        "device_profile": device.model_dump(mode="json"),
        "model": source.artifact.model_dump(mode="json", exclude={"path"}),
        "accuracy": {
            "edgecv_validation": source.measured_accuracy(device.name),
            "edgecv_on_bundle_images": edgecv_accuracy_on_images(source),
        },
        "val_images": len(source.images),
        "tensorrt_check": check,
        "trtexec": trtexec_command(plan),
        "files": files,
    }


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_bundle(
    source: BundleSource,
    device: DeviceProfile,
    out_dir: Path,
    options: TensorRTOptions | None = None,
    *,
    force: bool = False,
) -> BundleResult:
    """Write ``out_dir/<device>-<artifact>/`` and ``.tar.gz`` beside it (atomically); see the module docstring."""
    plan = plan_build(device, source.artifact.path, options)
    check = _static_check(Path(source.artifact.path), device, force)
    name = bundle_name(device, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    try:
        _write_files(tmp, source, device, plan)
        manifest = _manifest(tmp, source, device, plan, check, name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.chmod(0o755)
        tarball = out_dir / f"{name}.tar.gz"
        with atomic_path(tarball) as tmp_tar, tarfile.open(tmp_tar, "w:gz") as tar:
            tar.add(tmp, arcname=name)
        tarball.chmod(0o644)
        folder = out_dir / name
        _replace_dir(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return BundleResult(folder=folder, tarball=tarball, manifest=manifest, plan=plan)


def _verify_folder(folder: Path, result: VerifyResult) -> VerifyResult:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        result.problems.append(f"no {MANIFEST}")
        return result
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        result.problems.append(f"manifest format {manifest.get('format')!r} is not {MANIFEST_FORMAT!r}")
    listed = manifest.get("files", {})
    for rel, entry in listed.items():
        path = folder / rel
        result.checked += 1
        if not path.is_file():
            result.problems.append(f"{rel}: missing")
        elif sha256_file(path) != entry["sha256"]:
            result.problems.append(f"{rel}: sha256 differs from the manifest (changed after bundling)")
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_file() and rel != MANIFEST and rel not in listed and path.name not in DEVICE_OUTPUTS:
            result.problems.append(f"{rel}: not in the manifest")
    return result


def verify_bundle(path: str | Path) -> VerifyResult:
    """Check a bundle folder or tarball against its manifest (device outputs such as model.engine are allowed)."""
    path = Path(path)
    result = VerifyResult(path=path)
    if path.is_dir():
        return _verify_folder(path, result)
    if not tarfile.is_tarfile(path):
        result.problems.append("neither a bundle folder nor a tarball")
        return result
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(path) as tar:
        tar.extractall(tmp, filter="data")
        roots = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(roots) != 1:
            result.problems.append(f"the tarball should hold one folder, it holds {len(roots)}")
            return result
        return _verify_folder(roots[0], result)


def deploy_run(
    run_dir: Path,
    device: str,
    *,
    artifact: str | None = None,
    out: Path | None = None,
    images: int = 200,
    force: bool = False,
) -> BundleResult:
    """``edgecv deploy``: a bundle for ``device`` from a finished run, with the run's ``export.tensorrt`` options."""
    from edgecv.devices import load_device
    from edgecv.export.bundle_source import source_from_run
    from edgecv.input_checks import describe_os_error

    profile = load_device(device)
    if profile.runtime != "tensorrt" or not profile.software.tensorrt:
        raise UnsupportedError(
            f"device '{profile.name}' deploys with {profile.runtime}; bundles are for TensorRT "
            "devices (`edgecv devices` lists them)"
        )
    target = out or run_dir / "deploy"
    above = next((p for p in [target, *target.parents] if p.exists()), target)
    if not above.is_dir():
        where = "is a file" if above == target else f"is under the file {above}"
        raise UnsupportedError(f"--out {target} {where}, not a folder; give a folder for the bundles")
    source = source_from_run(run_dir, profile, artifact, images)
    recipe = json.loads((run_dir / "report.json").read_text()).get("recipe", {})
    options = TensorRTOptions.model_validate((recipe.get("export") or {}).get("tensorrt") or {})
    try:
        return write_bundle(source, profile, target, options, force=force)
    except OSError as exc:
        raise describe_os_error(exc, exc.filename or target) from exc
