"""Segmenters as edgecv models: torchvision's by name (random init, aux head off) and a user's own, all wrapped so
the forward returns one ``logits`` tensor (N, C, H, W) at the input resolution.

``model.kwargs`` go to the factory, except ``bn_momentum``, which edgecv sets on every BatchNorm of the built
network (see :func:`set_bn_momentum`).

``SegmentationNet(net)`` takes whatever ``net`` returns (torchvision's ``{"out": ..., "aux": ...}``, a tuple, a
tensor) and keeps the main output, upsampled (bilinear) to the input size when the network returns it smaller. The
wrapper also makes users' models that shadow ``nn.Module.modules`` (ESPNet sets ``self.modules = []``) usable:
edgecv walks the wrapper, whose module tree torch builds from ``_modules``, never the user's attribute.

Example::

    net = SegmentationNet(build_segmenter("lraspp_mobilenet_v3_large", 11, {}))
    net(torch.zeros(1, 3, 64, 64)).shape      # (1, 11, 64, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgecv.errors import ModelError

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class SegmenterEntry:
    """A segmenter edgecv builds by name: its torchvision factory and default input."""

    name: str
    factory: Callable[..., nn.Module]
    input_size: tuple[int, int] = (512, 512)
    mean: tuple[float, float, float] = IMAGENET[0]
    std: tuple[float, float, float] = IMAGENET[1]
    resize: str = "stretch"
    min_input_size: int = 32


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, **kwargs: Any) -> nn.Module:
        from torchvision.models import segmentation

        if name != "lraspp_mobilenet_v3_large":
            kwargs.setdefault("aux_loss", False)  # the aux head only helps training and must not be exported
        return getattr(segmentation, name)(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)

    return build


def _lraspp_small(num_classes: int, **kwargs: Any) -> nn.Module:
    """LR-ASPP on MobileNetV3-small (Howard et al. 2019 describe both; torchvision ships only the large one by
    name): torchvision's own backbone and head, random init; ``kwargs`` go to the backbone (e.g. ``width_mult``)."""
    from torchvision.models import mobilenet_v3_small
    from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3

    return _lraspp_mobilenetv3(mobilenet_v3_small(weights=None, dilated=True, **kwargs), num_classes)


SEGMENTERS = {
    **{name: SegmenterEntry(name, _torchvision(name))
       for name in ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "fcn_resnet50")},
    "lraspp_mobilenet_v3_small": SegmenterEntry("lraspp_mobilenet_v3_small", _lraspp_small),
}
"""The segmenters edgecv builds by name from torchvision's modules (random init: no weights are downloaded)."""


def build_segmenter(arch: str, num_classes: int, kwargs: dict[str, Any]) -> nn.Module | None:
    """``arch`` with ``num_classes`` output channels; None when it is not one of SEGMENTERS."""
    entry = SEGMENTERS.get(arch)
    if entry is None:
        return None
    kwargs = dict(kwargs)
    momentum = kwargs.pop("bn_momentum", None)
    try:
        net = entry.factory(num_classes, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{arch} cannot be built with model.kwargs {kwargs}: {exc}", field="model.kwargs") from exc
    if momentum is not None:
        set_bn_momentum(net, momentum)
    return net


def set_bn_momentum(net: nn.Module, momentum: Any) -> None:
    """Every BatchNorm's running-statistics momentum set to ``momentum`` (``model.kwargs.bn_momentum``).

    torchvision's MobileNetV3 uses 0.01: its running statistics average about the last 100 steps, so a short
    training from scratch evaluates with statistics of much older weights (predicting background everywhere in
    eval mode while batch statistics segment); 0.1 follows the last 10 steps."""
    if isinstance(momentum, bool) or not isinstance(momentum, int | float) or not 0 < momentum <= 1:
        raise ModelError(f"model.kwargs.bn_momentum: {momentum!r} is not a number in (0, 1]", field="model.kwargs")
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = float(momentum)


def main_output(out: Any) -> torch.Tensor:
    """The segmentation logits among a network's outputs: ``out`` of a dict, the first of a tuple, or the tensor."""
    if isinstance(out, dict):
        if "out" not in out and len(out) != 1:
            raise ModelError(f"the segmenter returned a dict with {sorted(out)}; edgecv reads its 'out' entry "
                             "(or its only one)", field="model.arch")
        return out["out"] if "out" in out else next(iter(out.values()))
    if isinstance(out, list | tuple):
        return main_output(out[0])
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise ModelError(f"the segmenter returned {type(out).__name__} {getattr(out, 'shape', '')}, not (N, C, H, W) "
                         "logits", field="model.arch")
    return out


def logits_at_input_size(out: Any, images: torch.Tensor) -> torch.Tensor:
    """The main output of ``out`` (see main_output), upsampled (bilinear) to ``images``' height and width."""
    logits = main_output(out)
    if logits.shape[-2:] != images.shape[-2:]:
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return logits


torch.fx.wrap("logits_at_input_size")  # one leaf call for torch.fx: BatchNorm folding traces the network inside


class SegmentationNet(nn.Module):
    """``net``'s main output as (N, C, H, W) logits at the input's height and width."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return logits_at_input_size(self.net(images), images)


CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def head_modules(model: nn.Module) -> list[nn.Module]:
    """The modules pruning keeps whole: the head producing the logits (torchvision's ``classifier``, or the last
    conv of a user's network) and, when that head is a single layer, the class-space decoder before it.

    The class-space decoder is the trailing run of convs (in module order) no wider than the class count, from the
    first one exactly as wide as it. ESPNet's decoder projects to the classes (the encoder's classifier,
    ``level3_C``), upsamples with class-wide ConvTransposes and concatenates and adds per-class maps; pruning those
    channels would change what the decoder means by a class. A class-wide conv inside the encoder (ESPNet's
    12-channel branches, 12 classes on CamVid) is not in that run and prunes as usual."""
    net = getattr(model, "net", model)
    head = getattr(net, "classifier", None)
    convs = [m for m in nn.Module.modules(net) if isinstance(m, CONVS)]
    if not isinstance(head, nn.Module):
        head = convs[-1] if convs else None
    if head is None:
        return []
    if not isinstance(head, CONVS):
        return [head]
    run: list[nn.Module] = []
    for conv in reversed([m for m in convs if m is not head]):
        if conv.out_channels > head.out_channels:
            break
        run.insert(0, conv)
    start = next((i for i, conv in enumerate(run) if conv.out_channels == head.out_channels), len(run))
    return [head, *run[start:]]  # from the first class-wide conv: narrower encoder convs before it still prune
