"""Parameters of every stage type a recipe's ``stages:`` list can name, as pydantic models.

Kept apart from the stage implementations so a recipe validates without importing torch. Each model has a
``type`` literal; ``StageParams`` is their discriminated union. Adding a stage type is one class here, one file
in ``edgecv/stages/`` and one line in ``edgecv/registry.py``.

Example (in a recipe)::

    stages:
      - type: finetune
        epochs: 3
        lr: 0.01
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base for recipe sections: unknown keys are errors, values are immutable after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainParams(StrictModel):
    """One training loop's settings, shared by the ``train`` section and fine-tuning stages."""

    epochs: int = Field(0, ge=0, description="Epochs to train; 0 skips training")
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0, description="Peak learning rate (reached after warm-up)")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0, description="Linear warm-up length before the cosine decay")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    batch_size: int | None = Field(None, gt=0, description="Defaults to data.batch_size")
    augment: Literal["none", "crop", "crop-flip"] = Field(
        "none", description="Random crop (padding 4) and horizontal flip; flips suit natural images, not digits"
    )
    seed: int = 0
    amp: Literal["auto", "on", "off"] = Field("auto", description="Mixed precision; 'auto' uses it on a GPU only")
    max_batches_per_epoch: int | None = Field(None, gt=0, description="Cap for quick experiments")


class FinetuneParams(TrainParams):
    """Train the current model further (e.g. after pruning), with the same loop as ``train``."""

    type: Literal["finetune"]
    name: str | None = None
    epochs: int = Field(1, ge=1)
    lr: float = Field(0.01, gt=0)


StageParams = Annotated[FinetuneParams, Field(discriminator="type")]
