"""What flows between stages: ModelArtifact, StageResult, and atomic file writes.

A ModelArtifact says where a model is, in which format, what input it takes and how to preprocess images for it,
so every later stage (export, validation, deployment) can use it without asking the recipe again.

Example::

    art = ModelArtifact(name="trained", format="torch", path="runs/q/1/01-train/model.pt",
                        input=InputSpec(shape=(3, 32, 32)),
                        preprocessing=Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, size=(32, 32)))
    art.model_dump_json()      # how it is stored in stage.json and report.json
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_UMASK = os.umask(0)
os.umask(_UMASK)

ArtifactFormat = Literal["torch", "onnx", "tensorrt-engine", "bundle"]


class Preprocessing(BaseModel):
    """How a raw RGB image becomes the model's input tensor: resize, scale to [0, 1], normalize."""

    model_config = ConfigDict(extra="forbid")

    size: tuple[int, int] = Field(description="Input height and width after resizing")
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: Literal["RGB", "BGR"] = "RGB"
    scale: float = Field(1 / 255, description="Multiplier applied to uint8 pixels before normalization")
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="stretch: plain resize to size; letterbox: keep the aspect, pad (detection)"
    )
    labels: list[str] = []


class InputSpec(BaseModel):
    """The model's single image input (batch axis excluded from ``shape``; it is dynamic in exports)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "input"
    shape: tuple[int, int, int]
    dtype: str = "float32"
    dynamic_batch: bool = True
    output_names: list[str] = ["logits"]


class ModelArtifact(BaseModel):
    """A model at one point of the pipeline, on disk; ``parent`` names the artifact it came from."""

    model_config = ConfigDict(extra="forbid")

    name: str
    format: ArtifactFormat
    path: str
    input: InputSpec
    preprocessing: Preprocessing
    precision: Literal["fp32", "fp16", "int8", "mixed"] = "fp32"
    size_bytes: int = 0
    params: int | None = None
    macs: int | None = None
    sha256: str | None = None
    parent: str | None = None
    arch: str | None = None
    targets: list[str] = Field([], description="Device names this artifact is meant for; empty means every device")

    def serves(self, device: str) -> bool:
        """Whether the artifact is meant for the device named ``device`` (no targets: every device)."""
        return not self.targets or device in self.targets


class StageResult(BaseModel):
    """What one stage did: its output artifact(s), metrics, time and warnings."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    kind: str
    inputs: list[str] = []
    outputs: list[ModelArtifact] = []
    metrics: dict[str, Any] = {}
    seconds: float = 0.0
    warnings: list[str] = []
    files: dict[str, str] = Field(
        {}, description="Other files the stage wrote (the report's pictures): path relative to the run folder -> "
        "sha256; --resume checks each, as it checks the artifacts")

    @property
    def output(self) -> ModelArtifact:
        """The stage's main output artifact."""
        return self.outputs[-1]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds.

    Readers never see a half-written file, and an interrupted write leaves the old file (or nothing).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write JSON (pretty, key order kept) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def atomic_save(path: str | Path, save: Callable[[Path], None]) -> None:
    """Call ``save(tmp_path)`` and rename the result onto ``path``; for torch.save, onnx.save and friends."""
    with atomic_path(path) as tmp:
        save(tmp)
