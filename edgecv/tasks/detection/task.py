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
from edgecv.tasks.base import Evaluator, Metric, SampleDrawer, Task

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from edgecv.artifacts import Preprocessing
    from edgecv.data import DataSplits
    from edgecv.export.trt_plan import BuildPlan
    from edgecv.validate.parity import ParityResult


class DetectionTask(Task):
    """Boxes and classes: outputs ``boxes`` (N, A, 4) xyxy input pixels and ``scores`` (N, A, classes)."""

    name = "detection"
    metric = Metric(key="map", label="mAP", unit="%", higher_is_better=True)
    secondary_metrics = (Metric(key="map50", label="mAP@0.5", unit="%"),)
    deepstream_network_type = 0

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

    def adapt_onnx(self, model: Any, info: Any, section: Any, num_classes: int) -> Any:
        """A user's ONNX detector followed by its declared ``model.decoding``, in float (boxes, scores)."""
        from edgecv.tasks.detection.onnx_decoding import decode_onnx

        return decode_onnx(model, info, section, num_classes)

    def check_export(self, export: Any, devices: list[Any]) -> None:
        """``export.trt_nms`` needs a TensorRT device whose TensorRT ships EfficientNMS_TRT."""
        if export.trt_nms:
            from edgecv.tasks.detection.nms_variants import require_nms_devices

            require_nms_devices(devices)

    def export_variants(self, ctx: Any, artifacts: list[Any], folder: Path) -> tuple[dict[str, Any], dict[str, str],
                                                                                   list[str]]:
        """``export.trt_nms``: an EfficientNMS_TRT variant of every ONNX artifact of the run, checked per device."""
        if not ctx.recipe.export.trt_nms:
            return {}, {}, []
        from edgecv.tasks.detection.nms_variants import write_nms_variants

        records, files, warnings = write_nms_variants(artifacts, ctx.devices, folder, ctx.run_dir)
        return {"trt_nms": records}, files, warnings

    def stage_problem(self, kind: str, params: Any, model: nn.Module | None) -> str | None:
        """Stages that need a label loss, which edgecv knows only for torchvision detectors (their own)."""
        from edgecv.tasks.detection.decoders import DecodedDetector

        if not isinstance(model, DecodedDetector):
            return None
        distill = getattr(params, "distill", None) if kind == "quantize" else params if kind == "distill" else None
        label_weight = 1.0 - getattr(distill, "alpha", 0.0) if distill is not None else 1.0
        needs_labels = {
            "train": True,
            "finetune": True,
            "distill": label_weight > 0,
            "prune": getattr(getattr(params, "finetune", None), "epochs", 0) > 0,
            "quantize": getattr(params, "method", "ptq") == "qat" and label_weight > 0,
        }.get(kind, False)
        if needs_labels:
            return ("edgecv knows no training loss for a user's own detector's output: train it with its own code, "
                    "or learn from a teacher only (distill with alpha: 1.0; for QAT, distill with alpha 1.0; prune "
                    "without finetune, then distill)")
        return None

    def model_defaults(self, arch: str) -> Any:
        from edgecv.tasks.detection.models import DETECTORS

        return DETECTORS.get(arch)

    def forward(self, model: nn.Module, images: torch.Tensor, targets: Any) -> Any:
        from edgecv.tasks.detection.distillation import DetectorForward

        if model.training:  # the detector's own loss terms; its raw outputs only if distillation asks for them
            losses = model.losses(images, targets) if hasattr(model, "losses") else None
            return DetectorForward(model, images, losses)
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

    def loss(self, outputs: Any, targets: Any, label_smoothing: float = 0.0,
             class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The detector's own loss dict, summed (class weights are refused in planning: class_counts is None)."""
        losses = getattr(outputs, "losses", outputs if isinstance(outputs, dict) else None)
        if not losses:
            raise EdgecvError("edgecv knows no training loss for this detector's output (a user's own detector): "
                              "train it with its own code, or fine-tune it from a teacher only (distill with "
                              "alpha: 1.0)")
        return sum(losses.values())  # type: ignore[return-value]

    def distill_loss(self, student: Any, teacher: Any, temperature: float) -> torch.Tensor:
        """Anchor-wise score and box distillation (:mod:`edgecv.tasks.detection.distillation`); the outputs are
        probabilities already, so ``temperature`` does not apply."""
        from edgecv.tasks.detection.distillation import detection_kd

        return detection_kd(student, teacher)

    def divergence(self, reference: Any, candidate: Any) -> torch.Tensor:
        from edgecv.tasks.detection.distillation import detection_kd

        return detection_kd(candidate, reference)

    def bundle_val(self, dataset: Dataset[Any], pre: Preprocessing, count: int, seed: int = 0) -> dict[str, np.ndarray]:
        from edgecv.tasks.detection.bundle import bundle_val

        return bundle_val(dataset, pre, count, seed)

    def bundle_dataset(self, arrays: dict[str, np.ndarray]) -> Dataset[Any]:
        from edgecv.tasks.detection.bundle import BundledDetections

        return BundledDetections(arrays)

    def bundle_info(self, labels: list[str], output_names: list[str]) -> dict[str, Any]:
        from edgecv.tasks.detection.bundle import bundle_info

        return bundle_info(labels, output_names)

    def deepstream_files(self, plan: BuildPlan, pre: Preprocessing, labels: list[str]) -> tuple[str, str]:
        from dataclasses import asdict

        from edgecv.deploy.detection_postprocess import PostprocessParams
        from edgecv.export.deepstream import detector_config, detector_labels

        return detector_config(plan, pre, len(labels), asdict(PostprocessParams())), detector_labels(labels)

    def evaluator(self, labels: list[str]) -> Evaluator:
        from edgecv.tasks.detection.metrics import DetectionEvaluator

        return DetectionEvaluator(labels)

    def summary(self, metrics: dict[str, Any]) -> dict[str, float | None]:
        return {key: round(float(metrics.get(key) or 0.0), 3) for key in ("map", "map50", "map75")}

    def sample_drawer(self, labels: list[str], dataset: Dataset[Any]) -> SampleDrawer:
        from edgecv.tasks.detection.visuals import DetectionDrawer

        return DetectionDrawer(labels)

    def report_sections(self, report: Any) -> list[tuple[str, str, str]]:
        from edgecv.tasks.detection.report import report_sections

        return report_sections(report)

    def protected_modules(self, model: nn.Module) -> list[nn.Module]:
        """The head (its outputs are the boxes and classes the decoding reads): torchvision's ``net.head``; in a
        user's detector, every top-level module of the network whose name says head."""
        from torch import nn

        net = getattr(model, "net", None)
        if net is None:
            return []
        head = getattr(net, "head", None)
        if isinstance(head, nn.Module):
            return [head]
        return [module for name, module in net.named_children() if "head" in name.lower()]
