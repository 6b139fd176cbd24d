"""What a run ran on: Python, the machine, and the version of every library that shapes the numbers."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from edgecv import __version__
from edgecv.devices import _host_figures
from edgecv.report.schema import Environment

LIBRARIES = (
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxslim",
    "nncf",
    "torch-pruning",
    "numpy",
    "pydantic",
    "scikit-learn",
    "tensorrt",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries edgecv uses (absent ones are left out)."""
    versions = {"edgecv": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> Environment:
    """The current machine and library versions."""
    host = _host_figures()
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu=str(host["cpu"]),
        cpu_count=os.cpu_count() or 1,
        libraries=library_versions(),
    )
