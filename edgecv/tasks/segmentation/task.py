"""Semantic segmentation behind the task seam: pixel cross-entropy (ignore index), pixel KD, and mIoU from a
confusion matrix as the primary metric, the same for torch, ONNX Runtime and anything that returns ``logits``.

Example::

    from edgecv.tasks import get_task
    task = get_task("segmentation")
    task.evaluate({"logits": logits}, label_maps, ["background", "car"])["miou"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgecv.tasks.base import Evaluator, Metric, SampleDrawer, Task

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.data import DataSplits
    from edgecv.export.trt_plan import BuildPlan
    from edgecv.validate.parity import ParityResult


def _pixels(logits: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) logits as (N*H*W, C) rows: one distribution per pixel."""
    return logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])


class SegmentationTask(Task):
    """Per-pixel classes: one output ``logits`` (N, C, H, W) at the input resolution; targets (N, H, W) int64."""

    name = "segmentation"
    metric = Metric(key="miou", label="mIoU", unit="%", higher_is_better=True)
    secondary_metrics = (Metric(key="pixel_accuracy", label="pixel accuracy", unit="%"),)
    weighs_classes = True
    deepstream_network_type = 2

    def load_datasets(self, section: Any) -> DataSplits:
        from edgecv.tasks.segmentation.data import load_segmentation_datasets

        return load_segmentation_datasets(section)

    def loader(
        self, dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False,
        augment: str = "none", seed: int = 0, workers: int = 0,
    ) -> DataLoader[Any]:
        from edgecv.tasks.segmentation.transforms import segmentation_loader

        return segmentation_loader(dataset, pre, batch_size, shuffle=shuffle, augment=augment, seed=seed,
                                   workers=workers)

    def subset(self, dataset: Dataset[Any], size: int, seed: int = 0) -> Dataset[Any]:
        from edgecv.data import calibration_subset

        return calibration_subset(dataset, size, seed)

    def build_model(self, arch: str, num_classes: int, kwargs: dict[str, Any]) -> nn.Module | None:
        from edgecv.tasks.segmentation.models import build_segmenter

        return build_segmenter(arch, num_classes, kwargs)

    def adapt_model(self, model: nn.Module, section: Any = None) -> nn.Module:
        from edgecv.tasks.segmentation.models import SegmentationNet

        return model if isinstance(model, SegmentationNet) else SegmentationNet(model)

    def model_defaults(self, arch: str) -> Any:
        from edgecv.tasks.segmentation.models import SEGMENTERS

        return SEGMENTERS.get(arch)

    def parity(self, reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any,
               names: tuple[str, str], *, judged_by: str | None = None, targets: Any = None) -> ParityResult | None:
        from edgecv.tasks.segmentation.parity import segmentation_parity

        return segmentation_parity(reference, candidate, tolerance, names, targets, judged_by=judged_by)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0,
             class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel cross-entropy, ignored pixels left out; with ``class_weights`` the weighted mean over pixels
        (sum of w[target] * loss over the sum of w[target], as torch's ``cross_entropy`` computes it)."""
        import torch.nn.functional as F

        from edgecv.tasks.segmentation.data_formats import IGNORED

        weight = None if class_weights is None else class_weights.to(outputs.device, outputs.dtype)
        return F.cross_entropy(outputs, targets, weight=weight, ignore_index=IGNORED, label_smoothing=label_smoothing)

    def class_counts(self, dataset: Dataset[Any], num_classes: int) -> torch.Tensor:
        """Label-map pixels per class over ``dataset`` (at the maps' own size; ignored pixels left out)."""
        from edgecv.tasks.segmentation.metrics import pixel_counts

        return pixel_counts(dataset, num_classes)

    def distill_loss(self, student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
        from edgecv.compress.distillation import kd_loss

        return kd_loss(_pixels(student), _pixels(teacher), temperature)  # KL per pixel, averaged over pixels

    def divergence(self, reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.kl_div(F.log_softmax(_pixels(candidate), dim=1), F.log_softmax(_pixels(reference), dim=1),
                        log_target=True, reduction="batchmean")

    def bundle_val(self, dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
        from edgecv.tasks.segmentation.bundle import bundle_val

        return bundle_val(dataset, pre, count, seed)

    def bundle_dataset(self, arrays: dict[str, np.ndarray]) -> Dataset[Any]:
        from edgecv.tasks.segmentation.bundle import bundle_dataset

        return bundle_dataset(arrays)

    def bundle_info(self, labels: list[str], output_names: list[str]) -> dict[str, Any]:
        from edgecv.tasks.segmentation.bundle import bundle_info

        return bundle_info(labels, output_names)

    def deepstream_files(self, plan: BuildPlan, pre: Preprocessing, labels: list[str]) -> tuple[str, str]:
        from edgecv.export.deepstream import detector_labels, segmentation_config

        return segmentation_config(plan, pre, len(labels)), detector_labels(labels)

    def evaluator(self, labels: list[str]) -> Evaluator:
        from edgecv.tasks.segmentation.metrics import SegmentationEvaluator

        return SegmentationEvaluator(labels)

    def summary(self, metrics: dict[str, Any]) -> dict[str, float | None]:
        return {key: round(float(metrics.get(key) or 0.0), 3) for key in ("miou", "pixel_accuracy")}

    def sample_drawer(self, labels: list[str], dataset: Dataset[Any]) -> SampleDrawer:
        from edgecv.tasks.segmentation.visuals import SegmentationDrawer, dataset_palette

        return SegmentationDrawer(labels, dataset_palette(dataset, len(labels)))

    def report_sections(self, report: Any) -> list[tuple[str, str, str]]:
        from edgecv.tasks.segmentation.report import report_sections

        return report_sections(report)

    def protected_modules(self, model: nn.Module) -> list[nn.Module]:
        from edgecv.tasks.segmentation.models import head_modules

        return head_modules(model)
