"""PyTorch runner: the reference every export is compared with."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgecv.runtime.base import Runner


class TorchRunner(Runner):
    """Runs an in-memory module in eval mode on a device (the CPU by default)."""

    backend = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.threads = torch.get_num_threads()

    @torch.no_grad()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        out = self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device))
        return out.float().cpu().numpy()
