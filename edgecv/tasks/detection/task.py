"""Object detection behind the task seam: torchvision detectors trained on their own losses, raw outputs (boxes,
scores) exported without NMS, NMS in NumPy for every runtime, COCO mAP@0.5:0.95 as the primary metric.

Example::

    from edgecv.tasks import get_task
    task = get_task("detection")
    task.evaluate({"boxes": boxes, "scores": scores}, targets, ["0", "1"])["map"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgecv.errors import EdgecvError
from edgecv.tasks.base import Evaluator, Metric, Task

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.data import DataSplits
    from edgecv.validate.parity import ParityResult


class DetectionTask(Task):
    """Boxes and classes: outputs ``boxes`` (N, A, 4) xyxy input pixels and ``scores`` (N, A, classes)."""

    name = "detection"
    metric = Metric(key="map", label="mAP", unit="%", higher_is_better=True)
    secondary_metrics = (Metric(key="map50", label="mAP@0.5", unit="%"),)
    deepstream_network_type = 0
    unsupported_stages = {"prune": "pruning", "distill": "distillation", "deploy": "deploy bundles"}

    def load_datasets(self, section: Any) -> DataSplits:
        from edgecv.tasks.detection.data import load_detection_datasets

        return load_detection_datasets(section)

    def loader(
        self, dataset: Dataset[Any], pre: Preprocessing, batch_size: int, *, shuffle: bool = False,
        augment: str = "none", seed: int = 0, workers: int = 0,
    ) -> DataLoader[Any]:
        from edgecv.tasks.detection.transforms import detection_loader

        return detection_loader(dataset, pre, batch_size, shuffle=shuffle, augment=augment, seed=seed,
                                workers=workers)

    def subset(self, dataset: Dataset[Any], size: int, seed: int = 0) -> Dataset[Any]:
        from edgecv.data import calibration_subset

        return calibration_subset(dataset, size, seed)  # balanced by each image's first class

    def targets_to(self, targets: Any, device: torch.device) -> Any:
        return [{k: v.to(device) for k, v in t.items()} for t in targets]

    def build_model(self, arch: str, num_classes: int, kwargs: dict[str, Any]) -> nn.Module | None:
        from edgecv.tasks.detection.models import build_detector

        return build_detector(arch, num_classes, kwargs)

    def adapt_model(self, model: nn.Module, section: Any = None) -> nn.Module:
        from edgecv.tasks.detection.decoders import DecodedDetector, decoder_for
        from edgecv.tasks.detection.models import RawDetector

        if isinstance(model, RawDetector | DecodedDetector):
            return model
        return DecodedDetector(model, decoder_for(getattr(section, "decoding", None))).eval()

    def model_defaults(self, arch: str) -> Any:
        from edgecv.tasks.detection.models import DETECTORS

        return DETECTORS.get(arch)

    def forward(self, model: nn.Module, images: torch.Tensor, targets: Any) -> Any:
        if model.training and hasattr(model, "losses"):
            return model.losses(images, targets)
        return model(images)

    def export_module(self, model: nn.Module) -> nn.Module:
        from edgecv.tasks.detection.models import ExportAdapter

        return ExportAdapter(model)

    def output_names(self, model: nn.Module | None) -> list[str]:
        from edgecv.tasks.detection.models import OUTPUT_NAMES

        return list(OUTPUT_NAMES)

    def parity(self, reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any,
               names: tuple[str, str], *, judged_by: str | None = None, targets: Any = None) -> ParityResult | None:
        from edgecv.tasks.detection.parity import detection_parity

        return detection_parity(reference, candidate, tolerance, names, judged_by=judged_by, targets=targets)

    def loss(self, outputs: Any, targets: Any, label_smoothing: float = 0.0) -> torch.Tensor:
        if not isinstance(outputs, dict):
            raise EdgecvError("detection training needs a model that returns its loss dict in train mode "
                              "(a torchvision detector); use one of `edgecv models`' detectors")
        return sum(outputs.values())  # type: ignore[return-value]

    def distill_loss(self, student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
        raise EdgecvError("distillation is not supported for detection yet; remove the distill stage")

    def divergence(self, reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        raise EdgecvError("depth pruning is not supported for detection yet; remove the prune stage")

    def evaluator(self, labels: list[str]) -> Evaluator:
        from edgecv.tasks.detection.metrics import DetectionEvaluator

        return DetectionEvaluator(labels)

    def summary(self, metrics: dict[str, Any]) -> dict[str, float | None]:
        return {key: round(float(metrics.get(key) or 0.0), 3) for key in ("map", "map50", "map75")}

    def protected_modules(self, model: nn.Module) -> list[nn.Module]:
        head = getattr(getattr(model, "net", None), "head", None)
        return [head] if head is not None else []
