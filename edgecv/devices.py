"""Device profiles: what a target device is and what its software stack accepts.

A profile is a YAML file in ``devices/`` (shipped with the package). Code branches on a profile's capabilities
(``precisions``, ``max_onnx_opset``, ``quantization_scheme``...), never on its name, so a new device is a new
YAML file and no code.

Example::

    from edgecv.devices import load_device, list_devices
    orin = load_device("jetson-agx-orin-64gb")
    orin.software.tensorrt        # "10.3"
    orin.peak.int8_tops           # dense INT8 TOPS of the GPU alone (DLA share in peak.dla_int8_tops)
    [d.name for d in list_devices()]
"""

from __future__ import annotations

import difflib
import os
import platform
import sys
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgecv.errors import RecipeError

Precision = Literal["fp32", "fp16", "int8"]
HOST = "host-cpu"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeakThroughput(_Strict):
    """Peak arithmetic throughput of the accelerator that runs the model (the GPU for Jetsons).

    Dense figures; the ``*_sparse`` fields are with 2:4 structured sparsity where the architecture has it.
    ``dla_int8_tops`` is the DLA cores' share, kept apart because a GPU-only engine cannot use it;
    ``dla_int8_tops_sparse`` is that share with 2:4 sparsity (Orin's DLA 2.0 has it; NVIDIA quotes it sparse).
    """

    fp32_tflops: float | None = None
    fp16_tflops: float | None = None
    int8_tops: float | None = None
    fp16_tflops_sparse: float | None = None
    int8_tops_sparse: float | None = None
    dla_int8_tops: float | None = None
    dla_int8_tops_sparse: float | None = None


class PowerMode(_Strict):
    """An nvpmodel power mode: its id on the device, its budget, and the GPU clock it allows."""

    id: int
    name: str
    watts: float
    gpu_max_mhz: float | None = None
    cpu_cores_online: int | None = None


class Software(_Strict):
    """The newest software stack NVIDIA ships for the device (JetPack), and what its TensorRT accepts."""

    jetpack: str | None = None
    l4t: str | None = None
    cuda: str | None = None
    tensorrt: str | None = None
    max_onnx_opset: int = Field(17, ge=7, description="Highest ONNX opset the device's TensorRT (or runtime) parses")


class Budgets(_Strict):
    """Default budgets for this device; a recipe's budgets override these field by field."""

    latency_ms: float | None = None
    max_accuracy_drop: float | None = None
    model_size_mb: float | None = None
    memory_mb: float | None = None


class DeviceProfile(_Strict):
    """One target device. See the module docstring for an example."""

    name: str = Field(description="Identifier used in recipes and on the command line")
    display_name: str
    kind: Literal["jetson", "host-cpu", "gpu"]
    runtime: Literal["tensorrt", "onnxruntime"] = Field(description="The runtime artifacts are deployed with")
    arch: str = Field(description="GPU architecture (Maxwell, Pascal, Volta, Ampere) or CPU ISA")
    compute_capability: str | None = None
    cuda_cores: int | None = None
    tensor_cores: int | None = None
    cpu: str | None = None
    cpu_cores: int | None = None
    dla_cores: int = 0
    memory_gb: float
    memory_bandwidth_gbs: float | None = None
    peak: PeakThroughput = PeakThroughput()
    power_modes: list[PowerMode] = []
    default_power_mode: int | None = None
    software: Software = Software()
    precisions: list[Precision] = ["fp32"]
    quantization_scheme: Literal["tensorrt", "onnxruntime-cpu"] = Field(
        "onnxruntime-cpu",
        description="Q/DQ scheme INT8 exports follow: TensorRT explicit quantization or ONNX Runtime's CPU kernels",
    )
    channel_alignment: int = Field(8, ge=1, description="Pruned channel counts are rounded to a multiple of this")
    sparsity_2_4: bool = Field(False, description="Whether the device's tensor cores accelerate 2:4 sparsity")
    budgets: Budgets = Budgets()
    notes: str | None = None

    @property
    def measurable_here(self) -> bool:
        """Whether latency on this device can be measured on this machine (only the host CPU can, today)."""
        return self.kind == "host-cpu"


def _profile_dirs() -> list[Path]:
    """Where profiles live: the checkout's devices/ folder, else the copy a wheel install put in share/."""
    candidates = [
        Path(__file__).resolve().parent.parent / "devices",
        Path(sys.prefix) / "share" / "edgecv" / "devices",
    ]
    return [p for p in candidates if p.is_dir()]


def _profile_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in _profile_dirs():
        for path in sorted(folder.glob("*.yaml")):
            files.setdefault(path.stem, path)
    return files


def _host_figures() -> dict[str, object]:
    """Facts about this machine that the host profile cannot know in advance."""
    mem_gb = 0.0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_cores": os.cpu_count() or 1, "memory_gb": mem_gb, "arch": platform.machine()}


def load_device_file(path: Path) -> DeviceProfile:
    """Load and validate one profile file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read device profile ({exc}); fix the YAML syntax") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a device profile must be a mapping of fields")
    if raw.get("kind") == "host-cpu":
        raw = {**raw, **_host_figures()}
    raw.setdefault("name", path.stem)
    try:
        return DeviceProfile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise RecipeError(f"{path}: field '{where}': {err['msg']}") from exc


@cache
def load_device(name_or_path: str) -> DeviceProfile:
    """Load a profile by name (``jetson-orin-nano-8gb``, ``host-cpu``) or by a YAML path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_file():
            raise RecipeError(f"device profile file '{path}' does not exist; give a path to a YAML profile")
        return load_device_file(path)
    files = _profile_files()
    if name_or_path not in files:
        close = difflib.get_close_matches(name_or_path, list(files), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RecipeError(
            f"unknown device '{name_or_path}': {hint}run `edgecv devices` to list them, or give a profile's YAML path"
        )
    return load_device_file(files[name_or_path])


def device_names() -> list[str]:
    """Names of every shipped profile."""
    return list(_profile_files())


def list_devices() -> list[DeviceProfile]:
    """Every shipped profile, host first."""
    profiles = [load_device(name) for name in device_names()]
    return sorted(profiles, key=lambda d: (d.kind != "host-cpu", d.name))
