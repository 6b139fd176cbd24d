"""Quantization-aware training: fine-tune NNCF's PTQ model through its quantizers, optionally with distillation.

NNCF's QAT for torch is "quantize with nncf.quantize, then train the quantized model as usual": the fake-quantize
ops pass gradients (straight-through) to the weights and learn their own ranges. The loop is edgecv's
:func:`edgecv.training.train_model`; with ``distill`` the loss is ``(1 - alpha) * task + alpha * KD`` (plus any
feature terms) against a float teacher, by default the run's model before compression.

Example (recipe)::

    - type: quantize
      method: qat
      qat: {epochs: 2, lr: 0.001}
      distill: {temperature: 4, alpha: 0.7}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgecv.stages.params import TrainParams
from edgecv.training import TrainOutcome

DEFAULT_QAT = TrainParams(epochs=1, lr=0.001, warmup_epochs=0.1, weight_decay=0.0, augment="none")
"""One short epoch with a small learning rate: QAT starts from calibrated PTQ ranges and needs little."""


@dataclass
class QatRebuild:
    """How another rank builds rank 0's fake-quantized model (NNCF models cannot be pickled): NNCF PTQ of the same
    float model, scheme and ignored scope on one batch gives the structure, then rank 0's state (weights and the
    calibrated quantizer ranges) is loaded, strictly. Calibration itself happens once, on rank 0."""

    prepared: nn.Module
    scheme: Any
    params: Any
    ignored_nodes: list[str]
    batch: torch.Tensor

    def build(self, state: dict[str, Any]) -> nn.Module:
        import nncf

        from edgecv.quantize.nncf_ptq import Calibration, quantize_ptq

        structure = Calibration(nncf.Dataset([self.batch]), 1, len(self.batch))
        quantized = quantize_ptq(self.prepared, self.scheme, structure, self.params, self.ignored_nodes)
        quantized.load_state_dict(state)
        return quantized


def qat_finetune(ctx: Any, quantized: nn.Module, params: Any, workdir: Path, key: str,
                 rebuild: QatRebuild | None = None) -> TrainOutcome:
    """Train ``quantized`` (an NNCF PTQ model) in place; returns the training outcome (best epoch kept).

    ``rebuild`` lets the other ranks of a multi-process run build the same model (see :class:`QatRebuild`)."""
    from edgecv.train_jobs import fit

    settings = params.qat or DEFAULT_QAT
    if settings.start_competes is None:  # the PTQ model QAT starts from is a candidate unless the recipe says not
        settings = settings.model_copy(update={"start_competes": True})
    workdir.mkdir(parents=True, exist_ok=True)
    if params.distill is None:
        return fit(ctx, quantized, settings, workdir, rebuild=rebuild)
    from edgecv.stages.distill import checked_teacher

    teacher = checked_teacher(ctx, quantized, params.distill, f"{key}.distill")
    return fit(ctx, quantized, settings, workdir, teacher=teacher, distill=params.distill, rebuild=rebuild)
