"""The task seam: everything that differs between classification, detection and segmentation, behind one interface.

A task is one folder ``edgecv/tasks/<name>/`` whose ``__init__.py`` exposes ``TASK``, an instance of a
:class:`Task` subclass; ``recipe.task`` names it. The pipeline, stages, runners and the report ask the task and
never name a metric themselves: training calls ``task.loss``, distillation ``task.distill_loss``, every accuracy
figure comes from ``task.evaluator(labels)`` and is read through ``task.metric`` (its key, label, unit and
direction), budgets and accuracy control compare ``task.metric.drop(reference, value)``.

Example (what a stage does with the task, whatever it is)::

    task = get_task(recipe.task)
    evaluator = task.evaluator(labels)
    for images, targets in loader:
        evaluator.update({"logits": model(images).numpy()}, targets)
    metrics = evaluator.compute()              # {"top1": 81.02, "top5": 99.1, ...}
    task.metric.value(metrics)                 # 81.02, the primary metric
    task.metric.drop(81.02, 80.50)             # 0.52: how much worse, in the metric's unit
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch
    from PIL.Image import Image
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.data import DataSplits
    from edgecv.export.trt_plan import BuildPlan


@dataclass(frozen=True)
class Metric:
    """A task's primary metric: the key it has in metric dicts, how it is shown, and which way is better."""

    key: str
    label: str
    unit: str = "%"
    higher_is_better: bool = True

    def value(self, metrics: dict[str, Any]) -> float | None:
        """The metric in ``metrics`` (None when absent)."""
        value = metrics.get(self.key)
        return None if value is None else float(value)

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference``, in the metric's unit (negative: better)."""
        return reference - value if self.higher_is_better else value - reference

    def show(self, value: float | None) -> str:
        """``81.02%`` (or ``–`` for a missing value)."""
        return "–" if value is None else f"{value:.2f}{self.unit}"


class Evaluator(ABC):
    """Accumulates a model's outputs over batches and computes the task's metrics."""

    @abstractmethod
    def update(self, outputs: dict[str, np.ndarray], targets: Any) -> None:
        """Add one batch: the model's outputs by name and the batch's targets."""

    @abstractmethod
    def compute(self) -> dict[str, Any]:
        """The metrics so far: the primary metric under ``Task.metric.key``, plus details; an optional ``curves``
        entry holds small named series the report plots (detection: precision at 101 recall levels)."""

    def resampled(self, picks: Sequence[int]) -> Evaluator | None:
        """A new evaluator holding the updates ``picks`` (indices in update order, repeats allowed) without
        recomputing them, or None when this evaluator cannot select (callers then update a fresh one again)."""
        return None


class SampleDrawer(ABC):
    """Draws the report's pictures of one val image (``image``: uint8 (H, W, 3) RGB, as the model saw it)."""

    def truth(self, image: np.ndarray, target: Any) -> Image | None:
        """The image with its true annotation drawn, or None when the prediction pictures show the truth too."""
        return None

    @abstractmethod
    def prediction(self, image: np.ndarray, output: dict[str, np.ndarray], target: Any) -> Image:
        """The image with one model's prediction drawn (``output``: that image's outputs by name, no batch axis)."""

    @abstractmethod
    def legend(self) -> list[tuple[str, str]]:
        """``(class name, "#rrggbb")`` of each class, in class order: the colours the pictures use."""


class Task(ABC):
    """One task: its metric, losses, evaluator, and the modules compression must keep whole."""

    name: ClassVar[str]
    metric: ClassVar[Metric]
    secondary_metrics: ClassVar[tuple[Metric, ...]] = ()
    """Other headline figures the report shows beside the primary metric (top-5 for classification)."""
    deepstream_network_type: ClassVar[int]
    """Gst-nvinfer's network-type: 1 classifier, 0 detector, 2 segmentation."""
    unsupported_stages: ClassVar[dict[str, str]] = {}
    """Stage kinds the task cannot run yet, with what they are (``{"prune": "pruning"}``): refused before work."""
    weighs_classes: ClassVar[bool] = False
    """Whether ``loss`` takes per-class weights (``train.class_weights``) and ``class_counts`` counts them."""

    @abstractmethod
    def load_datasets(self, section: Any) -> DataSplits:
        """Train, selection and val datasets for a recipe's ``data`` section, in the formats the task reads."""

    @abstractmethod
    def loader(
        self, dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False,
        augment: str = "none", seed: int = 0, workers: int = 0,
    ) -> DataLoader[Any]:
        """Batches of preprocessed images and their targets (the task's collate; seeded shuffling)."""

    @abstractmethod
    def subset(self, dataset: Dataset[Any], size: int, seed: int = 0) -> Dataset[Any]:
        """``size`` images of ``dataset`` for calibration and decisions, seeded (balanced as the task sees fit)."""

    def targets_to(self, targets: Any, device: torch.device) -> Any:
        """A batch's targets on ``device`` (a tensor of labels by default; a task with richer targets overrides)."""
        return targets.to(device)

    def build_model(self, arch: str, num_classes: int, kwargs: dict[str, Any]) -> nn.Module | None:
        """The task's own model for ``arch`` (e.g. a detector), or None to build it from the zoo."""
        return None

    def adapt_model(self, model: nn.Module, section: Any = None) -> nn.Module:
        """The task's form of a built model, its weights loaded; as it is by default. ``section`` is the
        recipe's ``model`` section (a user's detector is wrapped with its declared ``decoding``; a segmenter gets
        one logits output)."""
        return model

    def adapt_onnx(self, model: Any, info: Any, section: Any, num_classes: int) -> Any:
        """A user's ONNX graph (``model.onnx``) in the task's form: its one output (``info.outputs``) renamed to
        the task's output name. ``info`` is an :class:`edgecv.models.onnx_input.OnnxModelInfo`; a task whose outputs
        need decoding (a detector) overrides this."""
        from edgecv.errors import ModelError
        from edgecv.models.onnx_input import rename_outputs

        names = self.output_names(None)
        if len(info.outputs) != len(names):
            raise ModelError(
                f"{self.name} reads {len(names)} output(s) ({', '.join(names)}) but model.onnx {section.onnx} has "
                f"{len(info.outputs)} ({', '.join(info.outputs)}); name the one to read in model.outputs",
                field="model.outputs",
            )
        return rename_outputs(model, dict(zip(info.outputs, names, strict=True)))

    def stage_problem(self, kind: str, params: Any, model: nn.Module | None) -> str | None:
        """Why this task cannot run stage ``kind`` with ``params`` on ``model`` (checked before any work), or None.
        ``unsupported_stages`` covers whole stage kinds; this, what depends on the model (a user's detector has
        no known training loss)."""
        return None

    def model_defaults(self, arch: str) -> Any:
        """Input size, mean, std (and ``resize``) of the task's own ``arch``, or None (the zoo's then apply)."""
        return None

    def forward(self, model: nn.Module, images: torch.Tensor, targets: Any) -> Any:
        """The training loop's forward: what ``loss`` takes (a detector computes its loss dict from targets)."""
        return model(images)

    def export_module(self, model: nn.Module) -> nn.Module:
        """What ONNX export traces: the raw network with outputs in ``output_names`` order."""
        return model

    def output_names(self, model: nn.Module | None) -> list[str]:
        """The exported model's output names."""
        return ["logits"]

    def parity(self, reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any,
               names: tuple[str, str], *, judged_by: str | None = None, targets: Any = None) -> Any:
        """The task's own comparison of two models' outputs by name (a ParityResult); None: the logits comparison
        of :mod:`edgecv.validate.parity` applies. ``targets`` are the compared images' targets, in order."""
        return None

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0,
             class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss of one batch; ``class_weights`` (one per class) weigh each target's term."""

    def class_counts(self, dataset: Dataset[Any], num_classes: int) -> torch.Tensor | None:
        """How often each class occurs in ``dataset`` (what ``train.class_weights: balanced`` divides by), or None
        when the task's loss has no per-class weights (``train.class_weights`` is then refused before work)."""
        return None

    @abstractmethod
    def distill_loss(self, student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
        """The distillation term between the student's and the teacher's outputs of one batch."""

    @abstractmethod
    def divergence(self, reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """How far a changed model's outputs moved from the reference's (depth pruning ranks blocks by it)."""

    @abstractmethod
    def evaluator(self, labels: list[str]) -> Evaluator:
        """A fresh evaluator for a dataset with these class names."""

    @abstractmethod
    def protected_modules(self, model: nn.Module) -> list[nn.Module]:
        """Modules pruning must leave whole (the heads whose outputs are the task's)."""

    @abstractmethod
    def summary(self, metrics: dict[str, Any]) -> dict[str, float | None]:
        """The headline numbers of ``metrics`` (the primary metric first), for stage metrics and tables."""

    def report_sections(self, report: Any) -> list[tuple[str, str, str]]:
        """The task's own report.html sections as ``(anchor, nav title, section html)``; none by default."""
        return []

    def sample_drawer(self, labels: list[str], dataset: Dataset[Any]) -> SampleDrawer | None:
        """What draws a few val images with the baseline's and the final artifact's predictions for the report
        (``dataset``: the val split, for what it carries, such as a palette); None: the task shows no pictures."""
        return None

    def bundle_val(self, dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
        """``count`` val images for a deploy bundle (seeded): ``images`` (uint8 NCHW at the model's input size),
        ``labels`` (their ground truth) and the task's other arrays, as the bundle's val.npz holds them."""
        from edgecv.errors import UnsupportedError

        raise UnsupportedError(f"deploy bundles are not built for the {self.name} task")

    def bundle_dataset(self, arrays: dict[str, np.ndarray]) -> Dataset[Any]:
        """The bundled arrays as the task's own (image, target) dataset: what edgecv evaluates them with."""
        from edgecv.errors import UnsupportedError

        raise UnsupportedError(f"deploy bundles are not built for the {self.name} task")

    def bundle_info(self, labels: list[str], output_names: list[str]) -> dict[str, Any]:
        """The bundle's task.json: what its runner needs to score this task (see ``edgecv.deploy.task_scores``)."""
        return {"task": self.name, "labels": list(labels), "output": output_names[0] if output_names else "logits",
                "metric": "Metric: top-1 (and top-5) of the output's argmax against val.npz's labels."}

    def deepstream_files(self, plan: BuildPlan, pre: Preprocessing, labels: list[str]) -> tuple[str, str]:
        """The bundle's ``deepstream_config.txt`` (Gst-nvinfer, ``deepstream_network_type``) and its label file."""
        from edgecv.errors import UnsupportedError

        raise UnsupportedError(f"no DeepStream config for the {self.name} task")

    def check_export(self, export: Any, devices: list[Any]) -> None:
        """Refuse, before any work, export settings this task cannot honour (``export.trt_nms`` is detection's)."""
        if getattr(export, "trt_nms", False):
            from edgecv.errors import RecipeError

            raise RecipeError(
                f"key 'export.trt_nms': it appends NMS to a detector's boxes and scores, but task is {self.name!r}; "
                "remove export.trt_nms or set task: detection",
                field="export.trt_nms",
            )

    def export_variants(self, ctx: Any, artifacts: list[Any], folder: Path) -> tuple[dict[str, Any], dict[str, str],
                                                                                   list[str]]:
        """Extra files the export stage writes beside the run's ONNX artifacts (not artifacts themselves): their
        records for the stage's metrics, ``{path in the run: sha256}`` and warnings. None by default."""
        return {}, {}, []

    def evaluate(self, outputs: dict[str, np.ndarray], targets: Any, labels: list[str]) -> dict[str, Any]:
        """Metrics of one whole set of outputs at once."""
        evaluator = self.evaluator(labels)
        evaluator.update(outputs, targets)
        return evaluator.compute()
