"""PyTorch runner: the reference every export is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from edgecv.runtime.base import Runner


def named_outputs(out: Any, names: Sequence[str] = ("logits",)) -> dict[str, torch.Tensor]:
    """A module's output as ``{name: tensor}``: a tensor, a tuple/list (named in order) or a dict of tensors."""
    if isinstance(out, torch.Tensor):
        return {names[0] if names else "logits": out}
    if isinstance(out, dict):
        return {str(k): v for k, v in out.items()}
    if isinstance(out, list | tuple):
        return {names[i] if i < len(names) else f"output{i}": v for i, v in enumerate(out)}
    raise TypeError(f"the model returned a {type(out).__name__}, not a tensor, a tuple of tensors or a dict")


class TorchRunner(Runner):
    """Runs an in-memory module in eval mode on a device (the CPU by default)."""

    backend = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu", output_names: Sequence[str] = ("logits",)) -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.threads = torch.get_num_threads()
        self.output_names = list(output_names)

    @torch.no_grad()
    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device))
        return {name: t.float().cpu().numpy() for name, t in named_outputs(out, self.output_names).items()}
