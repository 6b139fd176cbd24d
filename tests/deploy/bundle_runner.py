"""Run a bundle's runner as the device would: a fresh interpreter in the bundle folder, without edgecv or torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

QUICK = ("--backend", "onnxruntime", "--batch-sizes", "1", "--runs", "2", "--warmup", "1", "--no-device-state")
"""ONNX Runtime mode, one short latency sweep, no device state: what the tests run."""


def run_bundle(folder: Path, *args: str) -> dict:
    """``run_bundle.py *args`` in ``folder`` where edgecv and torch cannot be imported; its results.json."""
    code = ("import runpy, sys; sys.modules['edgecv'] = None; sys.modules['torch'] = None; "
            f"sys.argv = ['run_bundle.py', *{list(args)!r}]; runpy.run_path('run_bundle.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((folder / "results.json").read_text())
