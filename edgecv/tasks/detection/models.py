"""Torchvision detectors as edgecv models: the raw network (backbone + head + box decoding, no NMS) as forward.

``RawDetector(net)`` takes preprocessed ``(N, 3, H, W)`` images and returns ``{"boxes": (N, A, 4) xyxy in input
pixels, "scores": (N, A, C) class probabilities}`` (background dropped); NMS runs outside the graph
(:mod:`edgecv.deploy.detection_postprocess`), the same for torch and ONNX Runtime. ``losses(images, targets)`` runs
the torchvision model in train mode (its own matching and loss). Class ``k`` of the data is the network's class
``k + 1`` (0 is background for SSD, unused by the sigmoid heads).

Example::

    model = build_detector("ssdlite320_mobilenet_v3_large", num_classes=10, kwargs={})
    model(torch.zeros(1, 3, 128, 128))["scores"].shape   # (1, A, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from edgecv.errors import ModelError


@dataclass(frozen=True)
class DetectorEntry:
    """A detector edgecv builds by name: its factory, default input and how images are resized."""

    name: str
    factory: Callable[..., nn.Module]
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scores: str
    """How class logits become probabilities: ``softmax`` (SSD), ``sigmoid`` or ``sigmoid-centerness`` (FCOS)."""
    resize: str = "stretch"


class BoxCoderModule(nn.Module, det_utils.BoxCoder):
    """torchvision's BoxCoder as a (parameterless) module, so a saved run model loads back weights-only."""

    def __init__(self, weights: tuple[float, float, float, float], bbox_xform_clip: float) -> None:
        nn.Module.__init__(self)
        det_utils.BoxCoder.__init__(self, weights, bbox_xform_clip)


class LinearCoderModule(nn.Module, det_utils.BoxLinearCoder):
    """torchvision's BoxLinearCoder (FCOS) as a module, for the same reason."""

    def __init__(self, normalize_by_size: bool) -> None:
        nn.Module.__init__(self)
        det_utils.BoxLinearCoder.__init__(self, normalize_by_size)


class SSDMatcherModule(nn.Module, det_utils.SSDMatcher):
    """torchvision's SSDMatcher as a module."""

    def __init__(self, threshold: float) -> None:
        nn.Module.__init__(self)
        det_utils.SSDMatcher.__init__(self, threshold)

    def forward(self, match_quality_matrix: torch.Tensor) -> torch.Tensor:
        return det_utils.SSDMatcher.__call__(self, match_quality_matrix)


class MatcherModule(nn.Module, det_utils.Matcher):
    """torchvision's Matcher (RetinaNet) as a module."""

    def __init__(self, high: float, low: float, allow_low_quality_matches: bool) -> None:
        nn.Module.__init__(self)
        det_utils.Matcher.__init__(self, high, low, allow_low_quality_matches)

    def forward(self, match_quality_matrix: torch.Tensor) -> torch.Tensor:
        return det_utils.Matcher.__call__(self, match_quality_matrix)


class PassThroughTransform(GeneralizedRCNNTransform):
    """No resize and no normalization: edgecv's preprocessing already made the input the model takes."""

    def forward(self, images: Any, targets: Any = None) -> tuple[ImageList, Any]:  # type: ignore[override]
        batch = images if isinstance(images, torch.Tensor) else torch.stack(list(images))
        return ImageList(batch, [tuple(batch.shape[-2:])] * len(batch)), targets


def _as_module(helper: Any) -> nn.Module | None:
    """The module twin of one of torchvision's plain-object helpers (None for anything else)."""
    if isinstance(helper, det_utils.BoxCoder):
        return BoxCoderModule(helper.weights, helper.bbox_xform_clip)
    if isinstance(helper, det_utils.BoxLinearCoder):
        return LinearCoderModule(helper.normalize_by_size)
    if isinstance(helper, det_utils.SSDMatcher):
        return SSDMatcherModule(helper.high_threshold)
    if isinstance(helper, det_utils.Matcher):
        return MatcherModule(helper.high_threshold, helper.low_threshold, helper.allow_low_quality_matches)
    return None


def _module_helpers(net: nn.Module) -> None:
    """Replace the plain-object helpers torchvision keeps on a detector with module twins (same numbers)."""
    for module in list(net.modules()):
        for name, value in list(vars(module).items()):
            twin = None if isinstance(value, nn.Module) else _as_module(value)
            if twin is not None:
                delattr(module, name)
                setattr(module, name, twin)
    net.transform = PassThroughTransform(1, 1, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])


class HeadDecoder(nn.Module):
    """The head's regression and class logits -> boxes (xyxy input pixels, clamped) and class probabilities.

    A module of its own so quantization keeps it in float (``edgecv_keep_float``): box decoding runs on
    coordinates, which an 8-bit grid would coarsen, and on the anchors, which are constants.
    """

    edgecv_keep_float = True

    def __init__(self, coder: nn.Module, scores: str) -> None:
        super().__init__()
        self.coder = coder
        self.scores = scores

    def forward(self, head: dict[str, torch.Tensor], anchors: torch.Tensor, height: int,
                width: int) -> dict[str, torch.Tensor]:
        n = head["cls_logits"].shape[0]
        deltas = head["bbox_regression"].reshape(-1, 4)
        expanded = anchors.repeat(n, 1)
        flat = self.coder.decode(deltas, expanded) if isinstance(self.coder, det_utils.BoxLinearCoder) else \
            self.coder.decode_single(deltas, expanded)
        boxes = flat.reshape(n, -1, 4)
        boxes = torch.stack([boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                             boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)], dim=-1)
        logits = head["cls_logits"]
        if self.scores == "softmax":
            probabilities = torch.softmax(logits, dim=-1)
        elif self.scores == "sigmoid-centerness":
            probabilities = torch.sqrt(torch.sigmoid(logits) * torch.sigmoid(head["bbox_ctrness"]))
        else:
            probabilities = torch.sigmoid(logits)
        return {"boxes": boxes, "scores": probabilities[..., 1:]}


class RawDetector(nn.Module):
    """A torchvision detector whose forward is the raw network plus box decoding (see the module docstring)."""

    def __init__(self, net: nn.Module, scores: str) -> None:
        super().__init__()
        _module_helpers(net)
        self.net = net
        self.scores = scores
        self.decode = HeadDecoder(net.box_coder, scores)
        net.anchor_generator.edgecv_keep_float = True  # shape arithmetic on constants: nothing to quantize

    def _anchors(self, height: int, width: int, sizes: list[tuple[int, int]]) -> torch.Tensor:
        """The anchors (priors) for this input size, from shapes only, so an export holds them as constants."""
        image = ImageList(torch.zeros(1, 3, height, width), [(height, width)])
        features = [torch.zeros(1, 1, h, w) for h, w in sizes]
        with torch.no_grad():
            return self.net.anchor_generator(image, features)[0]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.net.backbone(images)
        features = list(features.values()) if isinstance(features, dict) else [features]
        head = self.net.head(features)
        height, width = (int(s) for s in images.shape[-2:])
        anchors = self._anchors(height, width, [(int(f.shape[-2]), int(f.shape[-1])) for f in features])
        return self.decode(head, anchors.to(images.device, images.dtype), height, width)

    def losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The torchvision model's training losses (its matching and loss terms) for one batch."""
        shifted = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]
        return self.net(list(images), shifted)


class ExportAdapter(nn.Module):
    """The raw outputs as a tuple in ``OUTPUT_NAMES`` order, what ONNX export names."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(out[name] for name in OUTPUT_NAMES)


OUTPUT_NAMES = ["boxes", "scores"]


def _ssdlite(num_classes: int, **kwargs: Any) -> nn.Module:
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    return ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)


def _retinanet(num_classes: int, **kwargs: Any) -> nn.Module:
    from torchvision.models.detection import retinanet_resnet50_fpn

    return retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)


def _fcos(num_classes: int, **kwargs: Any) -> nn.Module:
    from torchvision.models.detection import fcos_resnet50_fpn

    return fcos_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DETECTORS = {
    e.name: e
    for e in (
        DetectorEntry("ssdlite320_mobilenet_v3_large", _ssdlite, (320, 320), (0.5,) * 3, (0.5,) * 3, "softmax"),
        DetectorEntry("retinanet_resnet50_fpn", _retinanet, (512, 512), *IMAGENET, "sigmoid"),
        DetectorEntry("fcos_resnet50_fpn", _fcos, (512, 512), *IMAGENET, "sigmoid-centerness"),
    )
}
"""The torchvision detectors edgecv builds by name (random init: no weights are downloaded)."""


def build_detector(arch: str, num_classes: int, kwargs: dict[str, Any]) -> nn.Module | None:
    """``arch`` as a RawDetector with ``num_classes`` data classes (+ background); None when it is not one."""
    entry = DETECTORS.get(arch)
    if entry is None:
        return None
    try:
        net = entry.factory(num_classes + 1, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{arch} cannot be built with model.kwargs {kwargs}: {exc}", field="model.kwargs") from exc
    return RawDetector(net, entry.scores)
