"""Paths inside a run folder are stored relative to it, so a copied or moved run still finds its own files.

stage.json and report.json hold every artifact's ``path`` (and any path string in stage metrics) relative to the
run folder; in memory they are absolute. A path outside the run folder (a user's checkpoint) stays absolute.

Example::

    on_disk = relative_to_run(result, run_dir)       # "03-quantize/int8-ort-cpu.onnx"
    result = absolute_in_run(on_disk, run_dir)         # "/.../runs/q/20261201-.../03-quantize/int8-ort-cpu.onnx"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from edgecv.artifacts import ModelArtifact

T = TypeVar("T", bound=BaseModel)


def _relative(path: str, run_dir: Path) -> str:
    try:
        return Path(path).resolve().relative_to(run_dir.resolve()).as_posix()
    except (ValueError, OSError):
        return path


def _strings(value: Any, run_dir: Path) -> Any:
    """``value`` with every absolute path string under ``run_dir`` made relative (dicts and lists walked)."""
    prefix = str(run_dir.resolve()) + "/"
    if isinstance(value, str):
        return _relative(value, run_dir) if value.startswith((prefix, str(run_dir) + "/")) else value
    if isinstance(value, dict):
        return {k: _strings(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, run_dir) for v in value]
    return value


def _map_artifacts(obj: T, change: Any) -> T:
    """A deep copy of ``obj`` (a StageResult or Report) with ``change`` applied to every ModelArtifact in it."""
    copy = obj.model_copy(deep=True)
    for name in ("outputs", "artifacts"):
        if hasattr(copy, name):
            setattr(copy, name, [change(a) for a in getattr(copy, name)])
    for stage in getattr(copy, "stages", []) or []:
        stage.outputs = [change(a) for a in stage.outputs]
    return copy


def relative_to_run(obj: T, run_dir: Path) -> T:
    """``obj`` as it is stored: artifact paths and metric path strings relative to ``run_dir``."""

    def change(a: ModelArtifact) -> ModelArtifact:
        return a.model_copy(update={"path": _relative(a.path, run_dir)})

    copy = _map_artifacts(obj, change)
    for result in [copy, *(getattr(copy, "stages", []) or [])]:
        if hasattr(result, "metrics"):
            result.metrics = _strings(result.metrics, run_dir)
    return copy


def absolute_in_run(obj: T, run_dir: Path) -> T:
    """``obj`` as it is used: relative artifact paths resolved against ``run_dir`` (where the run is now)."""

    def change(a: ModelArtifact) -> ModelArtifact:
        return a if Path(a.path).is_absolute() else a.model_copy(update={"path": str(run_dir / a.path)})

    return _map_artifacts(obj, change)
