"""The embedded default dataset: scikit-learn's handwritten digits (1,797 real 8x8 scans, 10 classes).

It ships inside scikit-learn, so the quickstart needs no download. Images are upsampled (bilinear) to a square
side and replicated to three channels so any RGB model can take them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset


def load_digits_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All digits as uint8 tensors ``(N, 3, size, size)``, their labels, and the label names "0".."9"."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)  # values are 0..16
    pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)
    images = pixels.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target).long()
    return images, labels, [str(n) for n in bunch.target_names]


def digits_dataset(size: int = 32) -> tuple[TensorDataset, list[str]]:
    """The digits as a TensorDataset of (uint8 image, label), and the label names."""
    images, labels, names = load_digits_images(size)
    return TensorDataset(images, labels), names
