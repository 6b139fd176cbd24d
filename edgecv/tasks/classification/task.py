"""Classification behind the task seam: cross-entropy, logit KD, top-1 (with top-5, per-class figures and the
confusion matrix), and the classifier head kept whole by pruning.

Example::

    from edgecv.tasks import get_task
    task = get_task("classification")
    task.evaluate({"logits": logits}, labels, ["cat", "dog"])["top1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgecv.tasks.base import Evaluator, Metric, Task

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.data import DataSplits
    from edgecv.export.trt_plan import BuildPlan


DETECTION_FORMATS = ("yolo", "coco")
"""Data formats that hold boxes: a classifier cannot train on them."""


def first_output(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The logits: the output named ``logits``, else the first one."""
    return outputs["logits"] if "logits" in outputs else next(iter(outputs.values()))


class ClassificationEvaluator(Evaluator):
    """Collects logits and labels; computes top-1/top-5, per-class precision/recall/F1 and the confusion matrix."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.logits: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []

    def update(self, outputs: dict[str, np.ndarray], targets: Any) -> None:
        import numpy as np

        self.logits.append(np.asarray(first_output(outputs), dtype=np.float32))
        self.targets.append(np.asarray(targets, dtype=np.int64))

    def compute(self) -> dict[str, Any]:
        import numpy as np

        from edgecv.tasks.classification.metrics import ClassificationMetrics

        if not self.logits:
            return {"samples": 0, "top1": 0.0, "top5": None, "per_class": {}, "confusion": []}
        metrics = ClassificationMetrics.from_logits(np.concatenate(self.logits), np.concatenate(self.targets),
                                                    self.labels)
        return metrics.model_dump()

    def resampled(self, picks: Sequence[int]) -> ClassificationEvaluator:
        """The updates of ``picks``."""
        other = ClassificationEvaluator(self.labels)
        other.logits = [self.logits[i] for i in picks]
        other.targets = [self.targets[i] for i in picks]
        return other


class ClassificationTask(Task):
    """Image classification: one logits output of shape (N, classes)."""

    name = "classification"
    metric = Metric(key="top1", label="top-1", unit="%", higher_is_better=True)
    secondary_metrics = (Metric(key="top5", label="top-5", unit="%"),)
    weighs_classes = True
    deepstream_network_type = 1

    def load_datasets(self, section: Any) -> DataSplits:
        from edgecv.data import load_datasets
        from edgecv.errors import DataError

        if section.format in DETECTION_FORMATS:
            raise DataError(f"key 'data.format': {section.format} holds boxes, not class folders; set task: "
                            "detection, or give an ImageFolder or CIFAR-10 folder", field="data.format")
        return load_datasets(section)

    def loader(
        self, dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False,
        augment: str = "none", seed: int = 0, workers: int = 0,
    ) -> DataLoader[Any]:
        from edgecv.data import make_loader

        return make_loader(dataset, pre, batch_size, shuffle=shuffle, augment_mode=augment, seed=seed, workers=workers)

    def subset(self, dataset: Dataset[Any], size: int, seed: int = 0) -> Dataset[Any]:
        from edgecv.data import calibration_subset

        return calibration_subset(dataset, size, seed)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0,
             class_weights: torch.Tensor | None = None) -> torch.Tensor:
        import torch.nn.functional as F

        weight = None if class_weights is None else class_weights.to(outputs.device, outputs.dtype)
        return F.cross_entropy(outputs, targets, weight=weight, label_smoothing=label_smoothing)

    def class_counts(self, dataset: Dataset[Any], num_classes: int) -> torch.Tensor:
        """Images per class, from the dataset's targets (through Subsets: no image is decoded)."""
        import torch

        from edgecv.data.splits import subset_targets

        return torch.bincount(torch.tensor(subset_targets(dataset), dtype=torch.int64), minlength=num_classes)

    def distill_loss(self, student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
        from edgecv.compress.distillation import kd_loss

        return kd_loss(student, teacher, temperature)

    def divergence(self, reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.kl_div(F.log_softmax(candidate, dim=1), F.log_softmax(reference, dim=1), log_target=True,
                        reduction="batchmean")

    def bundle_val(self, dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
        from edgecv.tasks.classification.bundle import bundle_val

        return bundle_val(dataset, pre, count, seed)

    def bundle_dataset(self, arrays: dict[str, np.ndarray]) -> Dataset[Any]:
        from edgecv.tasks.classification.bundle import bundle_dataset

        return bundle_dataset(arrays)

    def deepstream_files(self, plan: BuildPlan, pre: Preprocessing, labels: list[str]) -> tuple[str, str]:
        from edgecv.export.deepstream import labels_line, nvinfer_config

        return nvinfer_config(plan, pre, len(labels)), labels_line(labels)

    def evaluator(self, labels: list[str]) -> Evaluator:
        return ClassificationEvaluator(labels)

    def summary(self, metrics: dict[str, Any]) -> dict[str, float | None]:
        top5 = metrics.get("top5")
        return {"top1": round(float(metrics["top1"]), 3), "top5": None if top5 is None else round(float(top5), 3)}

    def report_sections(self, report: Any) -> list[tuple[str, str, str]]:
        from edgecv.tasks.classification.report import report_sections

        return report_sections(report)

    def protected_modules(self, model: nn.Module) -> list[nn.Module]:
        from edgecv.compress.pruning import classifier_heads

        return classifier_heads(model)
