"""Output decodings of users' own detectors: a raw network output -> ``boxes`` + ``scores``, inside the graph.

A user's detector (``model.arch: package.module:factory``) returns what its author's code returns; the recipe
declares how to read it (``model.decoding``). edgecv wraps the network in :class:`DecodedDetector`, whose forward
is the network followed by the decoder, so torch, the ONNX export (and ONNX Runtime) and the device bundle all
output the same ``boxes`` (N, A, 4) xyxy in input pixels and ``scores`` (N, A, classes), and one NMS
(:mod:`edgecv.deploy.detection_postprocess`) serves them all. The decoder has no weights; quantization keeps it
in float (:data:`DECODER_SCOPE`), so box coordinates never pass through an 8-bit grid.

Example (FastestDet: one 1+4+C channel map per grid cell)::

    model = DecodedDetector(user_net, DECODERS["fastestdet"]())
    out = model(torch.zeros(1, 3, 352, 352))
    out["boxes"].shape, out["scores"].shape        # (1, 484, 4), (1, 484, 80)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from edgecv.errors import ModelError

DECODER_SCOPE = "decode"
"""Attribute name of the decoder inside :class:`DecodedDetector`; NNCF names its ops ``decode/...``."""


class FastestDetDecoder(nn.Module):
    """FastestDet's single-scale anchor-free grid (dog-qiuqiu/FastestDet).

    Input ``(N, 1 + 4 + C, H, W)``, per cell: objectness (a probability already), two centre offsets (tanh; the
    centre is ``(cell + offset) / grid`` of the image), width and height (sigmoid; fractions of the image), and
    C class probabilities (softmax already). Score of class c: ``obj ** p * cls_c ** (1 - p)``, p = 0.6 as the
    author's code computes it.
    """

    def __init__(self, objectness_power: float = 0.6) -> None:
        super().__init__()
        self.objectness_power = objectness_power

    def forward(self, raw: torch.Tensor, height: int, width: int) -> dict[str, torch.Tensor]:
        if raw.dim() != 4 or raw.shape[1] < 6:
            raise ModelError(f"model.decoding fastestdet expects an (N, 1+4+classes, H, W) output, got "
                             f"{tuple(raw.shape)}; declare the decoding that matches the network",
                             field="model.decoding")
        grid_h, grid_w = int(raw.shape[2]), int(raw.shape[3])
        ys = torch.arange(grid_h, dtype=raw.dtype, device=raw.device).view(1, grid_h, 1)
        xs = torch.arange(grid_w, dtype=raw.dtype, device=raw.device).view(1, 1, grid_w)
        offsets = torch.tanh(raw[:, 1:3])
        sizes = torch.sigmoid(raw[:, 3:5])
        cx = (xs + offsets[:, 0]) * (width / grid_w)
        cy = (ys + offsets[:, 1]) * (height / grid_h)
        half_w, half_h = sizes[:, 0] * (width / 2), sizes[:, 1] * (height / 2)
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)  # (N, H, W, 4)
        power = self.objectness_power
        # a floor keeps pow's gradient finite where a probability underflowed to 0 (distillation trains through it)
        scores = raw[:, 0:1].clamp_min(1e-12).pow(power) * raw[:, 5:].clamp_min(1e-12).pow(1 - power)
        return {"boxes": boxes.reshape(-1, grid_h * grid_w, 4),
                "scores": scores.flatten(2).transpose(1, 2)}


def _centre_to_corners(centre: torch.Tensor) -> torch.Tensor:
    """(..., 4) cx, cy, w, h -> x1, y1, x2, y2."""
    cx, cy, w, h = centre.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


class YoloDecoder(nn.Module):
    """An anchor-free YOLO head as Ultralytics exports it (YOLOv8/11): ``(N, 4 + C, A)``, per anchor the box centre,
    width and height in input pixels, then C class probabilities (sigmoid already applied)."""

    def forward(self, raw: torch.Tensor, height: int, width: int) -> dict[str, torch.Tensor]:
        _expect(raw, 3, 5, "yolo", "(N, 4+classes, anchors)")
        rows = raw.transpose(1, 2)
        return {"boxes": _centre_to_corners(rows[..., :4]), "scores": rows[..., 4:]}


class YoloObjectnessDecoder(nn.Module):
    """A YOLO head with objectness as YOLOv5/v7 export it: ``(N, A, 5 + C)``, per anchor cx, cy, w, h in input
    pixels, objectness and C class probabilities; score of class c = objectness * class c."""

    def forward(self, raw: torch.Tensor, height: int, width: int) -> dict[str, torch.Tensor]:
        _expect(raw, 3, 6, "yolo-objectness", "(N, anchors, 5+classes)", axis=2)
        return {"boxes": _centre_to_corners(raw[..., :4]), "scores": raw[..., 4:5] * raw[..., 5:]}


class BoxesScoresDecoder(nn.Module):
    """An SSD-style pair already decoded: ``boxes (N, A, 4)`` xyxy in input pixels and ``scores (N, A, C)`` class
    probabilities (``model.outputs`` in that order)."""

    def forward(self, raw: tuple[torch.Tensor, ...], height: int, width: int) -> dict[str, torch.Tensor]:
        if not isinstance(raw, tuple | list) or len(raw) != 2:
            raise ModelError("model.decoding boxes-scores reads two outputs, boxes (N, A, 4) then scores (N, A, C); "
                             "name them in model.outputs", field="model.outputs")
        boxes, scores = raw
        if boxes.dim() != 3 or boxes.shape[-1] != 4 or scores.dim() != 3 or scores.shape[1] != boxes.shape[1]:
            raise ModelError(f"model.decoding boxes-scores expects boxes (N, A, 4) and scores (N, A, C), got "
                             f"{tuple(boxes.shape)} and {tuple(scores.shape)}; check model.outputs' order",
                             field="model.outputs")
        return {"boxes": boxes, "scores": scores}


class NmsOutputDecoder(nn.Module):
    """A graph that ends in NMS (TensorRT's EfficientNMS layout): ``num_dets (N, 1)``, ``boxes (N, K, 4)`` xyxy in
    input pixels, ``scores (N, K)``, ``classes (N, K)``. The K kept detections become K anchors whose score is
    one-hot on their class (zero past ``num_dets``), so edgecv's own NMS and mAP read them unchanged."""

    def __init__(self, num_classes: int | None) -> None:
        super().__init__()
        if num_classes is None:
            raise ModelError("model.decoding nms needs the data's class count; it applies to model.onnx graphs",
                             field="model.decoding")
        self.num_classes = num_classes

    def forward(self, raw: tuple[torch.Tensor, ...], height: int, width: int) -> dict[str, torch.Tensor]:
        if not isinstance(raw, tuple | list) or len(raw) != 4:
            raise ModelError("model.decoding nms reads four outputs: num_dets, boxes, scores, classes (name them in "
                             "model.outputs in that order)", field="model.outputs")
        count, boxes, scores, classes = raw
        kept = torch.arange(boxes.shape[1], device=boxes.device).view(1, -1) < count.reshape(-1, 1)
        one_hot = nn.functional.one_hot(classes.long().clamp(0, self.num_classes - 1), self.num_classes)
        return {"boxes": boxes.float(),
                "scores": one_hot.to(scores.dtype) * (scores * kept.to(scores.dtype)).unsqueeze(-1)}


def _expect(raw: torch.Tensor, dims: int, least: int, name: str, form: str, axis: int = 1) -> None:
    if not isinstance(raw, torch.Tensor) or raw.dim() != dims or raw.shape[axis] < least:
        shape = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
        raise ModelError(f"model.decoding {name} expects an {form} output, got {shape}; declare the decoding that "
                         "matches the network", field="model.decoding")


DECODERS: dict[str, Callable[[int | None], nn.Module]] = {
    "fastestdet": lambda classes: FastestDetDecoder(),
    "yolo": lambda classes: YoloDecoder(),
    "yolo-objectness": lambda classes: YoloObjectnessDecoder(),
    "boxes-scores": lambda classes: BoxesScoresDecoder(),
    "nms": NmsOutputDecoder,
}
"""Decodings a recipe can declare as ``model.decoding``, each built for the data's class count."""
DECODER_INPUTS = {"fastestdet": 1, "yolo": 1, "yolo-objectness": 1, "boxes-scores": 2, "nms": 4}
"""How many network outputs each decoding reads."""


class DecodedDetector(nn.Module):
    """A user's raw detector followed by its declared decoder: ``{"boxes", "scores"}`` like edgecv's own detectors.

    ``net`` keeps the user's module names (``net.`` in front), so its checkpoint is loaded before wrapping.
    """

    def __init__(self, net: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.net = net
        decoder.edgecv_keep_float = True  # edgecv.quantize.nncf_ptq.KEEP_FLOAT: boxes never pass an 8-bit grid
        setattr(self, DECODER_SCOPE, decoder)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = self.net(images)
        height, width = (int(s) for s in images.shape[-2:])
        return getattr(self, DECODER_SCOPE)(raw, height, width)


def decoder_for(name: str | None, num_classes: int | None = None) -> nn.Module:
    """The decoder a recipe declares; a missing or unknown name is a ModelError naming ``model.decoding``."""
    from edgecv.registry import unknown

    if name is None:
        raise ModelError(
            "a user's own detector needs model.decoding: how its raw output becomes boxes and scores "
            f"(one of {', '.join(sorted(DECODERS))})", field="model.decoding",
        )
    if name not in DECODERS:
        raise ModelError(str(unknown(name, sorted(DECODERS), "decoding")), field="model.decoding")
    return DECODERS[name](num_classes)
