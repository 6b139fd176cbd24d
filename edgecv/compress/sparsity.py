"""2:4 semi-structured sparsity: in every group of 4 consecutive input weights, the 2 smallest are zero.

Ampere-class tensor cores (Jetson Orin) skip those zeros. The mask is stored as a buffer on each layer, so any
later training keeps the pattern (``enforce_2_4`` after each optimizer step) and the exported weights carry it.

Example::

    fraction = apply_2_4(model)          # ~0.5 of the eligible weights are now zero
    enforce_2_4(model)                   # after an optimizer step: zero them again
    sparsity_2_4_report(model)["pattern_ok"]
"""

from __future__ import annotations

import torch
from torch import nn

MASK = "sparsity_mask_2_4"


def _eligible(module: nn.Module) -> bool:
    """Conv and Linear layers whose input dimension splits into groups of 4 (TensorRT's own condition)."""
    if isinstance(module, nn.Conv2d):
        return module.groups == 1 and (module.in_channels * module.kernel_size[0] * module.kernel_size[1]) % 4 == 0
    return isinstance(module, nn.Linear) and module.in_features % 4 == 0


def _mask_2_4(weight: torch.Tensor) -> torch.Tensor:
    rows = weight.detach().reshape(weight.shape[0], -1, 4).abs()
    keep = rows.argsort(dim=-1, descending=True)[..., :2]
    mask = torch.zeros_like(rows, dtype=torch.bool).scatter_(-1, keep, True)
    return mask.reshape(weight.shape)


@torch.no_grad()
def apply_2_4(model: nn.Module, skip: set[str] | None = None) -> float:
    """Prune every eligible layer (except names in ``skip``) to 2:4 by magnitude; returns the zero fraction."""
    zeros = total = 0
    for name, module in model.named_modules():
        if not _eligible(module) or name in (skip or set()):
            continue
        mask = _mask_2_4(module.weight)
        module.register_buffer(MASK, mask, persistent=True)
        module.weight.mul_(mask)
        zeros += int((~mask).sum())
        total += mask.numel()
    return zeros / total if total else 0.0


@torch.no_grad()
def enforce_2_4(model: nn.Module) -> None:
    """Zero the masked weights again (call after each optimizer step while fine-tuning)."""
    for module in model.modules():
        mask = getattr(module, MASK, None)
        if isinstance(mask, torch.Tensor):
            module.weight.mul_(mask)


def sparsity_2_4_report(model: nn.Module) -> dict[str, float | int | bool]:
    """Layers under 2:4, their zero fraction, and whether every group of 4 has at least 2 zeros."""
    layers = zeros = total = 0
    pattern_ok = True
    for module in model.modules():
        if getattr(module, MASK, None) is None:
            continue
        weight = module.weight.detach().reshape(module.weight.shape[0], -1, 4)
        layers += 1
        zeros += int((weight == 0).sum())
        total += weight.numel()
        pattern_ok &= bool(((weight == 0).sum(-1) >= 2).all())
    return {"layers": layers, "zero_fraction": zeros / total if total else 0.0, "pattern_ok": pattern_ok}
