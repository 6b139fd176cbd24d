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

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class DistillParams(TrainParams, DistillSettings):
    """Fine-tune the current (e.g. pruned) model with knowledge distillation from a teacher."""

    type: Literal["distill"]
    name: str | None = None
    epochs: int = Field(5, ge=1)
    lr: float = Field(0.01, gt=0)


class PruneParams(StrictModel):
    """Structured channel pruning with Torch-Pruning: the result is a physically smaller dense model."""

    type: Literal["prune"]
    name: str | None = None
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = "l2"
    ratio: float | None = Field(None, gt=0, lt=1, description="Fraction of channels removed (per layer or global)")
    target_macs: float | None = Field(None, gt=0, lt=1, description="Keep this fraction of the MACs (iterative)")
    target_params: float | None = Field(None, gt=0, lt=1, description="Keep this fraction of the parameters")
    global_pruning: bool = False
    round_to: int | None = Field(None, ge=1, description="Channel multiple; default: the target devices' alignment")
    ignored_layers: list[str] = Field([], description="Module names left whole (the classifier head always is)")
    steps: int = Field(1, ge=1, description="Prune in this many steps, fine-tuning between them")
    finetune: TrainParams | None = Field(None, description="Fine-tuning between steps (and after the last)")
    max_layer_ratio: float = Field(0.9, gt=0, lt=1, description="No layer loses more than this fraction")
    recalibrate_bn: int = Field(20, ge=0, description="Train batches to re-estimate BatchNorm statistics after pruning")
    remove_blocks: int = Field(
        0, ge=0, description="First remove this many residual blocks (identity shortcut), least harmful first; "
        "targets still count from the unpruned model"
    )
    sparsity_2_4: bool = Field(False, description="Also apply 2:4 semi-structured sparsity (Ampere-class GPUs)")

    @model_validator(mode="after")
    def _one_target(self) -> PruneParams:
        if self.ratio is None and self.target_macs is None and self.target_params is None:
            raise ValueError("give one target: ratio, target_macs or target_params")
        if self.ratio is not None and (self.target_macs is not None or self.target_params is not None):
            raise ValueError("ratio and target_macs/target_params exclude each other; keep one")
        return self


class QuantParity(StrictModel):
    """How close a quantized ONNX export must stay to the torch fake-quantized model it came from.

    INT8 kernels round differently from fake quantization (int32 bias, requantization, fused ReLU), and deep
    models amplify a one-step difference: ONNX Runtime vs NNCF's fake-quantized ResNet20 agreed on 98.6% of 2,000
    val images (min cosine 0.994), where INT8 itself changes 4% of FP32's predictions. A wrong scale, axis or layout
    drops agreement below 50%. So these judge agreement, not bit equality.
    """

    min_cosine: float = Field(0.99, gt=0, le=1, description="Lowest cosine similarity of any sample's logits")
    min_top1_agreement: float = Field(0.95, gt=0, le=1, description="Fraction of samples with the same top-1")
    max_abs_diff: float | None = Field(None, gt=0, description="Largest logit difference; None: not checked")


class QuantizeParams(StrictModel):
    """INT8 (post-training or quantization-aware) or FP16, in the scheme each target device runs.

    Example (in a recipe)::

        stages:
          - type: quantize            # INT8 PTQ; one ONNX per quantization scheme the devices need
            max_accuracy_drop: 0.5    # optional: keep the most sensitive layers in float until met
    """

    type: Literal["quantize"]
    name: str | None = Field(None, description="Artifact name prefix; default: the precision (int8, fp16)")
    precision: Literal["int8", "fp16"] = "int8"
    method: Literal["ptq", "qat"] = Field("ptq", description="qat: PTQ, then fine-tuning through the quantizers")
    scheme: Literal["auto", "tensorrt", "onnxruntime-cpu"] = Field(
        "auto", description="auto: one artifact per scheme the target devices need (device profile quantization_scheme)"
    )
    calibration_size: int | None = Field(None, gt=0, description="Calibration images; default: data.calibration_size")
    calibration_batch_size: int = Field(32, gt=0)
    range_estimator: Literal[
        "auto", "default", "minmax", "mean_minmax", "median_minmax", "mean_no_outliers", "percentile", "histogram"
    ] = Field(
        "auto",
        description="Activation range estimator (NNCF's sets): auto = the scheme's (minmax for onnxruntime-cpu, "
        "histogram for tensorrt); default = NNCF's own (mean of per-batch min/max)",
    )
    bias_correction: Literal["fast", "none"] = Field(
        "fast", description="NNCF fast bias correction after quantizing, or none (NNCF's torch backend has no full one)"
    )
    fold_batchnorm: bool = Field(True, description="Fold BatchNorm into the preceding convs before quantizing")
    ignored_scope: list[str] = Field(
        [], description="Layers kept in float: module names (layer1.0.conv1) or regexes prefixed 're:'"
    )
    max_accuracy_drop: float | None = Field(
        None, gt=0, description="Accuracy control: top-1 points (absolute) or percent (relative) INT8 may lose"
    )
    drop_type: Literal["absolute", "relative"] = "absolute"
    accuracy_samples: int | None = Field(None, gt=0, description="Val images judged in accuracy control; default all")
    ranking_samples: int = Field(200, gt=0, description="Calibration images for the layer sensitivity ranking")
    max_float_layers: int | None = Field(None, ge=1, description="Accuracy control keeps at most this many in float")
    parity: QuantParity = QuantParity()
    qat: TrainParams | None = Field(None, description="QAT fine-tuning settings (method: qat); default 1 epoch")
    distill: DistillSettings | None = Field(None, description="Distil QAT from a teacher (method: qat)")

    @model_validator(mode="after")
    def _consistent(self) -> QuantizeParams:
        if self.method != "qat" and (self.qat is not None or self.distill is not None):
            raise ValueError("qat and distill settings need method: qat; set method: qat or remove them")
        if self.precision == "fp16":
            int8_only = {"method": self.method != "ptq", "max_accuracy_drop": self.max_accuracy_drop is not None,
                         "ignored_scope": bool(self.ignored_scope)}
            if any(int8_only.values()):
                used = ", ".join(k for k, v in int8_only.items() if v)
                raise ValueError(f"precision fp16 takes no {used} (INT8 settings); remove them or use int8")
        if self.max_accuracy_drop is not None and self.method == "qat":
            raise ValueError("max_accuracy_drop (accuracy control) applies to method ptq; QAT recovers by training")
        if self.drop_type == "relative" and self.max_accuracy_drop is not None and self.max_accuracy_drop >= 100:
            raise ValueError("a relative max_accuracy_drop is a percent of the FP32 top-1: give a value below 100")
        for index, entry in enumerate(self.ignored_scope):
            if entry.startswith("re:"):
                try:
                    re.compile(entry[3:])
                except re.error as exc:
                    raise ValueError(f"ignored_scope[{index}] {entry!r} is not a valid regex ({exc})") from exc
        return self


StageParams = Annotated[
    FinetuneParams | DistillParams | PruneParams | QuantizeParams, Field(discriminator="type")
]
