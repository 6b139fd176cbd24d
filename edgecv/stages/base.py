"""What every stage sees while it runs: the run context and the current model (the Stage contract is in
:mod:`edgecv.stages.contract`).

A stage takes the current model (an artifact on disk, plus the torch module when it is a torch model), writes
what it produces into its own folder, and returns a StageResult whose last output is the new current model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgecv.artifacts import InputSpec, ModelArtifact, Preprocessing, StageResult, atomic_save, sha256_file
from edgecv.data import DataSplits
from edgecv.devices import DeviceProfile
from edgecv.evaluation import evaluate_torch
from edgecv.model_stats import count_macs, count_params
from edgecv.stages.contract import Stage

if TYPE_CHECKING:
    from edgecv.recipe import Recipe
    from edgecv.tasks.base import Task

__all__ = ["CurrentModel", "RunContext", "Stage", "save_torch_artifact", "torch_val_metrics"]


@dataclass
class RunContext:
    """Everything a stage may need that is not the model itself."""

    recipe: Recipe
    run_dir: Path
    splits: DataSplits
    devices: list[DeviceProfile]
    preprocessing: Preprocessing
    input_spec: InputSpec
    results: list[StageResult] = field(default_factory=list)
    initial_model: nn.Module | None = None

    @property
    def task(self) -> Task:
        """The recipe's task (classification, detection, ...): its metric, losses and evaluator."""
        from edgecv.tasks import get_task

        return get_task(self.recipe.task)

    def val_loader(self, batch_size: int = 256) -> torch.utils.data.DataLoader[Any]:
        """Preprocessed validation batches, in a fixed order."""
        return self.task.loader(self.splits.val, self.preprocessing, batch_size, workers=self.recipe.data.workers)

    def loader(self, dataset: Any, batch_size: int, **kwargs: Any) -> torch.utils.data.DataLoader[Any]:
        """Batches of ``dataset`` through the task's loader (its collate), with this run's preprocessing."""
        return self.task.loader(dataset, self.preprocessing, batch_size, **kwargs)

    def subset(self, dataset: Any, size: int) -> Any:
        """The task's seeded subset of ``size`` images (``data.seed``)."""
        return self.task.subset(dataset, size, self.recipe.data.seed)


@dataclass
class CurrentModel:
    """The model as it stands between stages: its artifact, and the loaded module for torch models."""

    artifact: ModelArtifact
    module: nn.Module | None = None

    def torch_module(self) -> nn.Module:
        """The torch module, loaded from the artifact's file when a resumed run has not loaded it yet."""
        if self.module is None:
            if self.artifact.format != "torch":
                raise TypeError(f"artifact {self.artifact.name} is {self.artifact.format}, not a torch model")
            from edgecv.safe_load import load_run_module

            # weights-only with allow-listed module classes, after checking the sha256 the run recorded
            self.module = load_run_module(Path(self.artifact.path), self.artifact.sha256)
        return self.module


def save_torch_artifact(
    module: nn.Module, folder: Path, name: str, ctx: RunContext, parent: str | None, arch: str | None = None
) -> ModelArtifact:
    """Save a whole module (architecture and weights: pruning changes shapes) and describe it as an artifact.

    The file is read back by :func:`edgecv.safe_load.load_run_module`; a module that names a class it would
    refuse is a ModelError here rather than on ``--resume``.
    """
    from edgecv.safe_load import check_run_module

    path = folder / "model.pt"
    module = module.cpu().eval()
    atomic_save(path, lambda tmp: torch.save(module, tmp))
    check_run_module(path)
    return ModelArtifact(
        name=name,
        format="torch",
        path=str(path),
        input=ctx.input_spec,
        preprocessing=ctx.preprocessing,
        precision="fp32",
        size_bytes=path.stat().st_size,
        params=count_params(module),
        macs=count_macs(module, ctx.input_spec.shape),
        sha256=sha256_file(path),
        parent=parent,
        arch=arch,
    )


def torch_val_metrics(module: nn.Module, ctx: RunContext) -> dict[str, Any]:
    """The task's headline metrics of a torch module on the val split (reported, never used to decide)."""
    return ctx.task.summary(evaluate_torch(module, ctx.val_loader(), ctx.splits.labels, task=ctx.task))
