"""What a run ran on: Python, the machine, the version of every library that shapes the numbers, and threads."""

from __future__ import annotations

import os
import platform
import sys
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


def thread_counts() -> dict[str, int]:
    """torch's CPU threads in effect (``threads.torch``, else torch's default); empty when torch is not loaded."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}


def environment() -> Environment:
    """The current machine, library versions and thread counts."""
    host = _host_figures()
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu=str(host["cpu"]),
        cpu_count=os.cpu_count() or 1,
        libraries=library_versions(),
        threads=thread_counts(),
    )
