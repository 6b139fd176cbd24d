"""Size facts of a torch model: parameter count and multiply-accumulates (MACs) for one input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


@contextmanager
def countable_attention() -> Iterator[None]:
    """Attention as matmuls torch's FLOP counter sees.

    In eval mode ``nn.MultiheadAttention`` takes a fused fast path and ``scaled_dot_product_attention`` a fused CPU
    kernel, and the counter counts neither: torchvision's ViT-B/16 counted 11.3 G MACs instead of 17.6 G. With the
    fast path off and SDPA's math backend, the projections and the two attention matmuls are counted (17.56 G, as
    torchvision publishes).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass on a single ``input_shape`` (C, H, W) image, via torch's FLOP counter."""
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    counter = FlopCounterMode(display=False)
    with countable_attention(), counter:
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2
