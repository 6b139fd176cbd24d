"""The report's data model. ``report.json`` is ``Report.model_dump_json()``; its JSON Schema documents it.

Example::

    report = Report.model_validate_json(Path("runs/q/RUN/report.json").read_text())
    [(v.artifact, v.device, v.metrics["top1"]) for v in report.validations]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from edgecv.artifacts import ModelArtifact, StageResult
from edgecv.validate.latency import LatencyResult
from edgecv.validate.parity import ParityResult


class Verdict(BaseModel):
    """One budget check of one artifact on one device."""

    budget: Literal["latency_ms", "max_accuracy_drop", "model_size_mb", "memory_mb"]
    limit: float
    value: float | None
    passed: bool | None = Field(description="None when the value is unknown")
    margin: float | None = Field(None, description="limit - value: positive means room to spare")
    source: Literal["recipe", "device"] = "recipe"
    detail: str = Field("", description="What the value is, e.g. 'p50 at batch 1, measured on the device'")


class Validation(BaseModel):
    """One artifact on one device: accuracy, latency per batch size (measured or estimated), budget verdicts."""

    artifact: str
    device: str
    backend: str
    precision: str
    metrics: dict[str, float | None] = Field(description="top1, top5 (percent) and the accuracy delta to the first")
    per_class: dict[str, dict[str, float]] = {}
    confusion: list[list[int]] = []
    latency: list[LatencyResult] = []
    latency_source: Literal["measured", "estimated", "imported", "none"] = "none"
    estimated: list[LatencyResult] = Field([], description="The former estimate, kept when latency is imported")
    estimate_detail: dict[str, Any] = {}
    model_size_mb: float | None = Field(None, description="Size of the artifact file, MB (1e6 bytes)")
    memory_mb: float | None = Field(None, description="Estimated runtime memory: weights + peak activations")
    memory_detail: dict[str, Any] = {}
    device_budgets: dict[str, float] = Field({}, description="The device profile's budgets, as set at validation")
    verdicts: list[Verdict] = []


class Environment(BaseModel):
    python: str
    platform: str
    machine: str
    cpu: str | None = None
    cpu_count: int
    libraries: dict[str, str]
    threads: dict[str, int] = Field({}, description="CPU threads in effect: torch (threads.torch or torch's default)")


class Report(BaseModel):
    """Everything a run did and measured."""

    schema_version: int = 1
    edgecv_version: str
    name: str
    run_dir: str
    status: Literal["complete", "failed", "interrupted", "running"]
    created: str
    recipe_hash: str
    recipe: dict[str, Any]
    environment: Environment
    data: dict[str, Any] = {}
    stages: list[StageResult] = []
    artifacts: list[ModelArtifact] = []
    parity: list[ParityResult] = []
    validations: list[Validation] = []
    labels: list[str] = []
    total_seconds: float = 0.0


def model_line(report: Report) -> str:
    """The model the run started from: the first artifact's architecture (``onnx:<file>`` for a model.onnx)."""
    return next((a.arch for stage in report.stages for a in stage.outputs if a.arch), "?")


def splits_line(data: dict[str, Any]) -> str:
    """``1000 train / 111 selection / 200 val images`` from a report's data section (older runs: no selection)."""
    parts = [f"{data.get('train_images', '?')} train"]
    if "selection_images" in data:
        parts.append(f"{data['selection_images']} selection")
    parts.append(f"{data.get('val_images', '?')} val images")
    return " / ".join(parts)
