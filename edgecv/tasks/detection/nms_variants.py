"""``export.trt_nms``: beside each detection ONNX artifact, the same graph with EfficientNMS_TRT appended.

For every ONNX artifact of the run that serves a TensorRT device of ``validate.devices`` whose TensorRT ships the
plugin (:func:`edgecv.export.tensorrt_plugins.ships`), the export stage writes ``<artifact>.nms.onnx`` in its
folder (written under a temporary name, then renamed) and runs the static TensorRT check for each such device. The
variants are not artifacts: nothing here can run them (ONNX Runtime has no EfficientNMS_TRT), so validation and
bundles keep using the artifacts themselves.

Example::

    records, files, warnings = write_nms_variants(artifacts, ctx.devices, folder, ctx.run_dir)
    records[0]["tensorrt_check"]["jetson-orin-nano-8gb"]["ok"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from edgecv.artifacts import ModelArtifact, atomic_save, sha256_file
from edgecv.deploy.detection_postprocess import PostprocessParams
from edgecv.devices import DeviceProfile
from edgecv.errors import RecipeError
from edgecv.export.tensorrt_plugins import PLUGINS, ships
from edgecv.tasks.detection.trt_nms import NMS_OUTPUTS, PLUGIN, append_efficient_nms, nms_attributes

__all__ = ["nms_devices", "require_nms_devices", "write_nms_variants"]


def _tensorrt(devices: list[DeviceProfile]) -> list[DeviceProfile]:
    return [d for d in devices if d.runtime == "tensorrt" and d.software.tensorrt]


def nms_devices(devices: list[DeviceProfile]) -> list[DeviceProfile]:
    """The TensorRT devices whose TensorRT ships EfficientNMS_TRT."""
    return [d for d in _tensorrt(devices) if ships(PLUGIN, str(d.software.tensorrt))]


def require_nms_devices(devices: list[DeviceProfile]) -> None:
    """A RecipeError (before any work) when no device of ``validate.devices`` could take the variant."""
    trt = _tensorrt(devices)
    if not trt:
        raise RecipeError(
            f"key 'export.trt_nms': validate.devices ({', '.join(d.name for d in devices)}) has no TensorRT device, "
            "and the EfficientNMS_TRT variant is for TensorRT only; add one (e.g. jetson-orin-nano-8gb) or remove "
            "export.trt_nms",
            field="export.trt_nms",
        )
    if not nms_devices(devices):
        since = ".".join(map(str, PLUGINS[PLUGIN].since))
        versions = ", ".join(f"{d.name} (TensorRT {d.software.tensorrt})" for d in trt)
        raise RecipeError(
            f"key 'export.trt_nms': EfficientNMS_TRT ships with TensorRT {since} and later, and none of {versions} "
            "has it; add a device with a newer TensorRT or remove export.trt_nms",
            field="export.trt_nms",
        )


def _write(artifact: ModelArtifact, path: Path) -> onnx.ModelProto:
    model = append_efficient_nms(onnx.load(artifact.path), PostprocessParams())
    atomic_save(path, lambda tmp: onnx.save(model, str(tmp)))
    return model


def write_nms_variants(
    artifacts: list[ModelArtifact], devices: list[DeviceProfile], folder: Path, run_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """Write and check the variants; return their records, ``{path in the run: sha256}`` and warnings."""
    from edgecv.export.tensorrt_rules import check_for_device

    records: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    warnings: list[str] = []
    for artifact in (a for a in artifacts if a.format == "onnx"):
        served = [d for d in nms_devices(devices) if artifact.serves(d.name)]
        if not served:
            continue
        path = folder / f"{artifact.name}.nms.onnx"
        model = _write(artifact, path)
        checks = {d.name: check_for_device(model, d) for d in served}
        warnings += [f"{path.name} on {name}: {c.summary()}" for name, c in checks.items() if not c.ok]
        relative = path.relative_to(run_dir).as_posix()
        files[relative] = sha256_file(path)
        records.append(
            {
                "artifact": artifact.name,
                "path": relative,
                "plugin": PLUGIN,
                "attributes": nms_attributes(PostprocessParams()),
                "outputs": list(NMS_OUTPUTS),
                "tensorrt_check": {name: c.record() for name, c in checks.items()},
            }
        )
    return records, files, warnings
