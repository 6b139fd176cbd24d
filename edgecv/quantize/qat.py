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

from pathlib import Path
from typing import Any

from torch import nn

from edgecv.stages.params import TrainParams
from edgecv.training import TrainOutcome, train_model

DEFAULT_QAT = TrainParams(epochs=1, lr=0.001, warmup_epochs=0.1, weight_decay=0.0, augment="none")
"""One short epoch with a small learning rate: QAT starts from calibrated PTQ ranges and needs little."""


def qat_finetune(ctx: Any, quantized: nn.Module, params: Any, workdir: Path, key: str) -> TrainOutcome:
    """Train ``quantized`` (an NNCF PTQ model) in place; returns the training outcome (best epoch kept)."""
    settings = params.qat or DEFAULT_QAT
    workdir.mkdir(parents=True, exist_ok=True)
    common = {
        "workdir": workdir,
        "default_batch_size": ctx.recipe.data.batch_size,
        "workers": ctx.recipe.data.workers,
    }
    if params.distill is None:
        return train_model(quantized, ctx.splits, ctx.preprocessing, settings, **common)
    from edgecv.stages.distill import make_distiller
    from edgecv.training import pick_device

    distiller = make_distiller(ctx, quantized, params.distill, f"{key}.distill")
    distiller.to(pick_device())
    try:
        return train_model(
            quantized, ctx.splits, ctx.preprocessing, settings, **common,
            extra_loss=lambda images, outputs, targets: distiller.loss(images, outputs),
            extra_modules=[distiller.adapters], task_weight=1 - params.distill.alpha,
        )
    finally:
        distiller.close()
