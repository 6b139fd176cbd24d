"""From a uint8 CHW RGB image to a model input, as the model's Preprocessing says; plus training augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgecv.artifacts import Preprocessing


def to_model_input(image: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """Resize (bilinear, antialiased) to ``pre.size``, reorder channels, scale and normalize one CHW image.

    Example::

        x = to_model_input(torch.zeros(3, 8, 8, dtype=torch.uint8), Preprocessing(size=(32, 32)))
        x.shape   # torch.Size([3, 32, 32])
    """
    x = image.float()
    if tuple(x.shape[-2:]) != tuple(pre.size):
        x = F.interpolate(x.unsqueeze(0), size=pre.size, mode="bilinear", align_corners=False, antialias=True)[0]
    if pre.channel_order == "BGR":
        x = x.flip(0)
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(-1, 1, 1)
    return (x * pre.scale - mean) / std


def augment(image: torch.Tensor, mode: str) -> torch.Tensor:
    """Random crop after 4-pixel zero padding (``crop``), plus a horizontal flip (``crop-flip``)."""
    if mode == "none":
        return image
    _, h, w = image.shape
    padded = F.pad(image, (4, 4, 4, 4))
    top, left = (int(v) for v in torch.randint(0, 9, (2,)))
    image = padded[:, top : top + h, left : left + w]
    if mode == "crop-flip" and torch.rand(()) < 0.5:
        image = image.flip(-1)
    return image
