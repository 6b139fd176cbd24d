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


DECODERS: dict[str, Callable[[], nn.Module]] = {"fastestdet": FastestDetDecoder}
"""Decodings a recipe can declare as ``model.decoding``."""


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


def decoder_for(name: str | None) -> nn.Module:
    """The decoder a recipe declares; a missing or unknown name is a ModelError naming ``model.decoding``."""
    from edgecv.registry import unknown

    if name is None:
        raise ModelError(
            "a user's own detector needs model.decoding: how its raw output becomes boxes and scores "
            f"(one of {', '.join(sorted(DECODERS))})", field="model.decoding",
        )
    if name not in DECODERS:
        raise ModelError(str(unknown(name, sorted(DECODERS), "decoding")), field="model.decoding")
    return DECODERS[name]()
