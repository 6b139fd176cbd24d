"""Settings shared by several stages and recipe sections: the strict base model, one training loop's settings,
and distillation's settings (used by ``distill`` and by QAT in ``quantize``).

Each stage's own Params class lives in its stage file (see :mod:`edgecv.stages.contract`); the recipe's
``stages:`` union is built from the registered stages.

Example (in a recipe)::

    train: {epochs: 3, lr: 0.05, augment: crop-flip}
    train: {epochs: 3, batch_size: 256, batch_size_is: global, lr_scaling: none}   # same on 1 or N processes
    train: {epochs: 12, class_weights: balanced}   # rare classes (a segmenter's thin objects) weigh more
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base for recipe sections: unknown keys are errors, values are immutable after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainParams(StrictModel):
    """One training loop's settings, shared by the ``train`` section and fine-tuning stages."""

    epochs: int = Field(0, ge=0, le=10_000, description="Epochs to train (at most 10000); 0 skips training")
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0, description="Peak learning rate (reached after warm-up)")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0, description="Linear warm-up length before the cosine decay")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weights: Literal["none", "balanced", "sqrt"] | list[Annotated[float, Field(ge=0)]] = Field(
        "none", description="Per-class weights of the cross-entropy (classification, segmentation): 'balanced' "
        "weighs class c by total / (classes present x count of c) over the train split (images for classification, "
        "label-map pixels for segmentation), 'sqrt' by the square root of that; a list gives one weight per class",
    )
    batch_size: int | None = Field(None, gt=0, description="Defaults to data.batch_size")
    augment: Literal["none", "crop", "crop-flip", "half-crop-flip"] = Field(
        "none", description="Random crop (padding 4) and horizontal flip; flips suit natural images, not digits. "
        "'half-crop-flip' (segmentation): a random crop of half the input's height and width (rounded down to a "
        "multiple of 32), image and label map together, and a flip: a fully convolutional segmenter trains on about "
        "a quarter of the pixels and is evaluated whole"
    )
    seed: int = 0
    amp: Literal["auto", "on", "off"] = Field("auto", description="Mixed precision; 'auto' uses it on a GPU only")
    max_batches_per_epoch: int | None = Field(None, gt=0, description="Cap for quick experiments")
    batch_size_is: Literal["global", "per-process"] = Field(
        "global",
        description="Under torch.distributed: 'global' splits batch_size over the processes (the effective batch "
        "stays batch_size, so 1 and N processes train alike); 'per-process' gives each process batch_size "
        "(effective batch = processes x batch_size)",
    )
    lr_scaling: Literal["none", "linear"] = Field(
        "none", description="'linear' multiplies lr by effective batch / batch_size (Goyal et al. 2017): by the "
        "process count when batch_size_is is 'per-process', by 1 otherwise",
    )
    accumulate: int = Field(
        1, ge=1, le=1024, description="Batches whose gradients add up before each optimizer step: effective batch = "
        "processes x per-process batch x accumulate",
    )
    sync_batchnorm: bool = Field(
        False, description="Under torch.distributed on GPUs: BatchNorm statistics over every process's batch",
    )
    freeze_batchnorm: bool = Field(
        False, description="BatchNorm layers keep their running statistics (they run in eval mode while the rest "
        "trains; their scale and shift still learn): for fine-tuning a pretrained or calibrated model on few or "
        "small images (QAT of a segmenter on half crops), where batch statistics would drift from the deployed ones",
    )
    start_competes: bool | None = Field(
        None, description="The model before training is scored on the selection split as epoch 0 and kept when "
        "no trained epoch beats it; default (null): on for quantization-aware training, whose start (calibrated "
        "PTQ) can beat a short fine-tune, off otherwise",
    )


class FeaturePair(StrictModel):
    """Feature distillation between a student layer and a teacher layer, through a learned 1x1 adapter."""

    student: str = Field(description="Module name in the student, e.g. layer3")
    teacher: str = Field(description="Module name in the teacher, e.g. layer3")
    weight: float = Field(1.0, gt=0)


class TeacherSpec(StrictModel):
    """Where the teacher comes from: the run's model before compression, or any zoo model and checkpoint."""

    source: Literal["original", "model"] = "original"
    arch: str | None = Field(None, description="Zoo name or import path when source is 'model'")
    checkpoint: Path | None = None


class DistillSettings(StrictModel):
    """Knowledge distillation: logit KD (Hinton et al. 2015) and optional feature KD."""

    teacher: TeacherSpec = TeacherSpec()
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.9, ge=0, le=1, description="Weight of the KD loss; (1 - alpha) goes to the labels")
    features: list[FeaturePair] = []
