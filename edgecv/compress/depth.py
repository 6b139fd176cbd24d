"""Depth pruning: remove whole residual blocks, the least harmful first.

Channel pruning alone stops paying off where channel counts get small: ONNX Runtime's INT8 convolutions ran a
16-channel stage of ResNet56 only 1.9x faster than FP32, and an 8-channel one slower than the 16-channel one
(``bench/README.md``). Removing a block removes its whole cost, per-op overhead included. A residual block
whose shortcut is the identity computes ``x + f(x)`` (then ReLU, a no-op on the non-negative ``x`` it gets), so
replacing it with ``nn.Identity`` is exactly the network with ``f = 0``; residual networks tolerate that well
(Veit et al. 2016, "Residual networks behave like ensembles of relatively shallow networks").

Blocks are chosen greedily: each round, every remaining candidate is removed in turn and the KL divergence of
the network's predictions from the unpruned network's measured on a fixed set of training images; the one whose
removal changes the predictions least goes. (Cross-entropy against the labels was tried first: on ResNet56 its
first pick lowered the loss on 512 training images yet cost 1.65 points of validation top-1.)

Example::

    removed = remove_blocks(model, count=3, images=images)
    [row["block"] for row in removed]     # e.g. ['layer1.8', 'layer2.8', 'layer1.7']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from edgecv.models.cifar_resnet import BasicBlock as CifarBasicBlock


def _is_identity_residual(module: nn.Module) -> bool:
    """A block computing ``act(x + f(x))`` with an identity shortcut, where ``act`` keeps ``x`` as it is."""
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.models.resnet import BasicBlock, Bottleneck

    if isinstance(module, CifarBasicBlock):
        return isinstance(module.shortcut, nn.Identity)
    if isinstance(module, BasicBlock | Bottleneck):
        return module.downsample is None
    if isinstance(module, InvertedResidual):
        return bool(module.use_res_connect)
    return False


def removable_blocks(model: nn.Module, keep: list[str] | None = None) -> list[str]:
    """Names of the residual blocks an identity can replace without changing any shape, except those in ``keep``.

    A block named in ``keep``, or inside a module named there, is not a candidate.
    """
    kept = tuple(keep or [])
    return [name for name, module in model.named_modules() if name and _is_identity_residual(module)
            and not any(name == k or name.startswith(k + ".") for k in kept)]


def _replace(model: nn.Module, name: str, module: nn.Module) -> nn.Module:
    """Put ``module`` at ``name`` (``layer2.3`` works for Sequential children too); return what was there."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    old = parent.get_submodule(child)
    setattr(parent, child, module)
    return old


@torch.no_grad()
def _logits(model: nn.Module, images: torch.Tensor, batch: int = 256) -> Any:
    """The model's outputs on ``images`` in batches: one tensor, or a dict of them by name (a detector's)."""
    parts = [model(images[start : start + batch]) for start in range(0, len(images), batch)]
    if isinstance(parts[0], dict):
        return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}
    return torch.cat(parts)


def _divergence(reference: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean KL(reference || logits) over the images, on softmax probabilities."""
    return float(nn.functional.kl_div(logits.log_softmax(1), reference.log_softmax(1), log_target=True,
                                      reduction="batchmean"))


def remove_blocks(model: nn.Module, count: int, images: torch.Tensor, keep: list[str] | None = None,
                  divergence: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                  ) -> list[dict[str, float | str]]:
    """Replace the ``count`` blocks whose removal changes the predictions least by ``nn.Identity``, in place.

    Returns one row per removed block, in removal order: its name and the divergence from the unpruned
    network's outputs once it is gone (``divergence(reference, outputs)``, the task's; KL on softmax by default).
    Blocks named in ``keep`` (or inside a kept module) stay. Raises ValueError when fewer than ``count`` blocks
    can be removed.
    """
    model.eval()
    candidates = removable_blocks(model, keep)
    if count > len(candidates):
        raise ValueError(f"only {len(candidates)} residual blocks with an identity shortcut can be removed, "
                         f"not {count}")
    reference = _logits(model, images)
    removed: list[dict[str, float | str]] = []
    for _ in range(count):
        trials: dict[str, float] = {}
        for name in candidates:
            block = _replace(model, name, nn.Identity())
            outputs = _logits(model, images)
            trials[name] = float(divergence(reference, outputs)) if divergence else _divergence(reference, outputs)
            _replace(model, name, block)
        best = min(trials, key=lambda n: trials[n])
        _replace(model, best, nn.Identity())
        removed.append({"block": best, "kl_divergence": trials[best]})
        candidates.remove(best)
    return removed
