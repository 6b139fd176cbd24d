"""``type: quantize``: INT8 (NNCF PTQ or QAT, optionally accuracy-controlled) or FP16, one ONNX per scheme.

The stage reads the last torch model of the run and writes only ONNX artifacts, each with ``targets`` = the
devices it serves (see :mod:`edgecv.quantize.schemes`); the export stage still exports the last torch model as
the FP32 baseline, and the validate stage measures every ONNX artifact on the devices it targets.

INT8 flow per scheme: fold BatchNorm -> ``nncf.quantize`` (scheme settings, calibration subset of train, range
estimator, fast bias correction, ignored scope) -> [QAT fine-tuning] -> [accuracy control: rank layers by
sensitivity, keep the most sensitive in float until the budget holds] -> QDQ ONNX export with parity against the
fake-quantized torch model -> int8 weights stored (CPU scheme) -> TensorRT rules (TensorRT targets).

Example (recipe)::

    stages:
      - {type: quantize, precision: int8, max_accuracy_drop: 0.3}
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from edgecv.artifacts import ModelArtifact, StageResult
from edgecv.console import info
from edgecv.errors import RecipeError
from edgecv.quantize.from_onnx import onnx_source
from edgecv.stages.contract import Stage, StageCheck, register_stage, stage_key
from edgecv.stages.params import DistillSettings, StrictModel, TrainParams
from edgecv.validate.parity import ParityCriteria

if TYPE_CHECKING:
    import torch
    from torch import nn

    from edgecv.quantize.layers import Layer
    from edgecv.quantize.nncf_ptq import Calibration
    from edgecv.quantize.schemes import ArtifactPlan, Scheme
    from edgecv.quantize.selection_noise import Scorer
    from edgecv.quantize.sensitivity import LayerSensitivity
    from edgecv.quantize.trial_graph import TrialGraph
    from edgecv.stages.base import CurrentModel, RunContext


class QuantParity(ParityCriteria):
    """How close a quantized ONNX export must stay to the torch fake-quantized model it came from.

    INT8 kernels round differently from fake quantization (int32 bias, requantization, fused ReLU), and deep
    models amplify a one-step difference: ONNX Runtime vs NNCF's fake-quantized ResNet20 agreed on 98.6% of 2,000
    val images (min cosine 0.994), where INT8 itself changes 4% of FP32's predictions. A wrong scale, axis or layout
    drops agreement below 50%. So these judge agreement on the samples that are not near ties (top-2 margin under
    ``min_margin`` of the logit scale: on briefly trained models' flat logits most samples are) and the top-1 on
    the compared images, not bit equality; cosine and max |diff| are reported, and judged only when set.

    Design for ``--resume``: the quantize stage's fingerprint leaves this section out, and the compared outputs
    are stored beside each artifact, so a changed tolerance or ``mode`` re-judges the stored comparison
    (:func:`edgecv.validate.parity.rejudge`) instead of quantizing (or QAT-training) again.
    """

    min_margin: float = Field(
        0.2, ge=0, description="A sample counts in top-1 agreement only when the fake-quantized model's top-2 "
        "margin is at least this fraction of the logit scale (nearer ties may flip in INT8 kernels)",
    )
    min_top1_agreement: float = Field(0.95, gt=0, le=1, description="Of the confident samples (see min_margin)")
    max_top1_diff: float | None = Field(
        2.0, ge=0, description="Largest |top-1 difference| in points between the INT8 ONNX and the fake-quantized "
        "model on the compared images (one image is 100/samples points); segmentation: |mIoU difference| on their "
        "label maps, with min_margin and min_top1_agreement per pixel; None: not checked",
    )


RangeEstimator = Literal[
    "auto", "default", "minmax", "mean_minmax", "median_minmax", "mean_no_outliers", "percentile", "histogram"
]


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
    range_estimator: RangeEstimator | list[RangeEstimator] = Field(
        "auto",
        description="Activation range estimator (NNCF's sets): auto = the scheme's (minmax for onnxruntime-cpu, "
        "histogram for tensorrt); default = NNCF's own (mean of per-batch min/max); a list: accuracy control "
        "quantizes with each, scores every all-INT8 model on the selection split and keeps the best per scheme",
    )
    weight_range: Literal["auto", "full", "half"] = Field(
        "auto", description="int8 weights on the full range or half of it (7 bits: ONNX Runtime's reduce_range); "
        "auto = half for the onnxruntime-cpu scheme with int8 weights on an x86 CPU without VNNI, whose u8s8 "
        "kernels saturate (edgecv.quantize.cpu_isa), else full; either applies to every layer, the first one too "
        "(NNCF's own default halves the first layer only)"
    )
    weight_type: Literal["auto", "int8", "uint8", "fastest"] = Field(
        "auto", description="How the onnxruntime-cpu scheme's file stores its weights: uint8 (zero point 128, the "
        "same values) runs ONNX Runtime's u8u8 kernels, which never saturate but are slower than u8s8 on x86; auto "
        "= uint8 on an x86 CPU without VNNI, else int8; fastest (needs max_accuracy_drop) = int8 (7-bit there) when "
        "its all-INT8 drop on the selection split is within the budget, else uint8. The tensorrt scheme always has "
        "int8 weights"
    )
    bias_correction: Literal["fast", "none"] = Field(
        "fast", description="NNCF fast bias correction after quantizing, or none (NNCF's torch backend has no full one)"
    )
    fold_batchnorm: bool = Field(True, description="Fold BatchNorm into the preceding convs before quantizing")
    ignored_scope: list[str] = Field(
        [], description="Layers kept in float: module names (layer1.0.conv1) or regexes prefixed 're:'"
    )
    max_accuracy_drop: float | None = Field(
        None, gt=0, description="Accuracy control: task-metric points (absolute) or percent (relative) INT8 may lose"
    )
    drop_type: Literal["absolute", "relative"] = "absolute"
    accuracy_samples: int | None = Field(
        None, gt=0, description="Selection-split images judged in accuracy control; default all"
    )
    ranking_samples: int = Field(200, gt=0, description="Calibration images for the layer sensitivity ranking")
    max_float_layers: int | None = Field(None, ge=1, description="Accuracy control keeps at most this many in float")
    require_resolved_gain: bool = Field(
        False, description="Accuracy control measures its float layers' gain over the all-INT8 file on the selection "
        "split with a paired bootstrap (splits of up to 1,000 images) and warns when the split cannot tell it from "
        "chance (better in fewer than 95% of resamples); true: then every layer stays INT8 instead (float layers cost "
        "speed), even though the budget is missed on selection",
    )
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
            raise ValueError("a relative max_accuracy_drop is a percent of the FP32 value: give a value below 100")
        if isinstance(self.range_estimator, list):
            if len(set(self.range_estimator)) < 2 or len(set(self.range_estimator)) != len(self.range_estimator):
                raise ValueError("range_estimator: a list names at least two different estimators to choose among; "
                                 "give one name (e.g. histogram) or distinct names")
            if self.max_accuracy_drop is None:
                raise ValueError("range_estimator: a list is chosen among by accuracy control on the selection "
                                 "split; set max_accuracy_drop or give one estimator")
        if self.weight_type == "fastest" and self.max_accuracy_drop is None:
            raise ValueError("weight_type: fastest keeps the faster int8 weights only where accuracy control finds "
                             "them within budget on the selection split; set max_accuracy_drop or choose int8/uint8")
        for index, entry in enumerate(self.ignored_scope):
            if entry.startswith("re:"):
                try:
                    re.compile(entry[3:])
                except re.error as exc:
                    raise ValueError(f"ignored_scope[{index}] {entry!r} is not a valid regex ({exc})") from exc
        return self


def float_source(ctx: RunContext, current: CurrentModel) -> tuple[ModelArtifact, nn.Module]:
    """The torch model to quantize: the current one, or the run's last torch artifact (after another quantize)."""
    from edgecv.stages.base import CurrentModel

    if current.artifact is not None and current.artifact.format == "torch":
        return current.artifact, current.torch_module()
    torch_artifacts = [a for r in ctx.results for a in r.outputs if a.format == "torch"]
    if not torch_artifacts:
        raise RecipeError("the quantize stage needs a torch model before it; put it after load/train/prune/distill")
    return torch_artifacts[-1], CurrentModel(artifact=torch_artifacts[-1]).torch_module()


def calibration_source(ctx: RunContext) -> str:
    """Which images calibrated: the train split, or the selection split when the recipe has no train data."""
    if ctx.splits.train is ctx.splits.selection:
        return "selection split (class-balanced, seeded; the recipe has no train data)"
    return "train split (class-balanced, seeded)"


DECISION_VALUES = 1 << 24
"""Input values per batch in accuracy control's scoring and ranking (64 MiB of float32): 256 CIFAR images, 32
CamVid frames at 360x480, whose ONNX Runtime activations at batch 256 would not fit in memory."""


def decision_batch(ctx: RunContext) -> int:
    """Images per batch when accuracy control scores or ranks: at most 256, fewer for large inputs."""
    values = 1
    for side in ctx.input_spec.shape:
        values *= int(side)
    return max(1, min(256, DECISION_VALUES // max(values, 1)))


def score_onnx(ctx: RunContext, path: Path, loader: Any) -> float:
    """The task's primary metric of an ONNX file through ONNX Runtime on ``loader``'s images."""
    from edgecv.runtime import OrtRunner
    from edgecv.validate.accuracy import evaluate_runner

    with OrtRunner(path, threads=ctx.recipe.validate_.threads) as runner:
        metrics = evaluate_runner(runner, loader, ctx.splits.labels, ctx.task)
    return float(ctx.task.metric.value(metrics) or 0.0)


@register_stage
class QuantizeStage(Stage):
    """INT8 or FP16 ONNX artifacts in the scheme each target device runs, from the run's last torch model."""

    kind = "quantize"
    Params = QuantizeParams
    accepts = frozenset({"torch", "onnx"})  # after another quantize stage it takes the last torch model again
    produces = "onnx"
    params: QuantizeParams

    @classmethod
    def check(cls, params: QuantizeParams, check: StageCheck) -> None:
        """A device runs the precision, the opset allows per-channel Q/DQ, and a QAT teacher builds."""
        from edgecv.errors import UnsupportedError
        from edgecv.quantize.onnx_export import quantized_opset
        from edgecv.quantize.schemes import plan_artifacts

        plan_artifacts(params.precision, params.scheme, check.devices, check.key)
        if check.recipe.model.onnx is not None and isinstance(params.range_estimator, list):
            raise RecipeError(f"key '{check.key}.range_estimator': choosing among estimators needs the model's "
                              "PyTorch code, and model.onnx is only its graph; give one estimator (e.g. histogram)")
        if check.recipe.model.onnx is not None and params.weight_type == "fastest":
            raise RecipeError(f"key '{check.key}.weight_type': fastest is chosen on the model's PyTorch code, and "
                              "model.onnx is only its graph; give int8 (faster) or uint8 (8-bit weights)")
        if check.recipe.model.onnx is not None and params.method == "qat":
            raise RecipeError(f"key '{check.key}.method': QAT trains through the model's PyTorch code, and model.onnx "
                              "is only its graph; use method: ptq (with max_accuracy_drop for accuracy control)")
        if params.precision == "int8":
            try:
                quantized_opset(check)
            except UnsupportedError as exc:
                raise RecipeError(f"key '{check.key}.precision': {exc}") from exc
        if params.distill is not None:
            from edgecv.stages.distill import check_distill_settings

            check_distill_settings(check.recipe, params.distill, check)

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        from edgecv.quantize.onnx_export import quantized_opset
        from edgecv.quantize.schemes import plan_artifacts

        started = time.perf_counter()
        p = self.params
        key = stage_key(ctx.recipe, p)
        plans, notes = plan_artifacts(p.precision, p.scheme, ctx.devices, key)
        from_graph = onnx_source(ctx, current)
        if from_graph is not None:  # model.onnx: no torch model in this run
            outputs, metrics, warnings = self._from_onnx(ctx, from_graph, plans, folder, key)
            for note in notes + warnings:
                info(f"  note: {note}")
            return StageResult(stage=folder.name, kind=self.kind, inputs=[from_graph.name], outputs=outputs,
                               metrics=metrics, seconds=time.perf_counter() - started, warnings=notes + warnings)
        source, module = float_source(ctx, current)
        if p.precision == "fp16":
            outputs, metrics = self._fp16(ctx, module, source, plans[0], folder)
        else:
            quantized_opset(ctx)  # fail before any work when a device's opset is too old for per-channel Q/DQ
            outputs, metrics, warnings = self._int8(ctx, module, source, plans, folder, key)
            notes += warnings
        for note in notes:
            info(f"  note: {note}")
        return StageResult(stage=folder.name, kind=self.kind, inputs=[source.name], outputs=outputs,
                           metrics=metrics, seconds=time.perf_counter() - started, warnings=notes)

    def _from_onnx(self, ctx: RunContext, source: ModelArtifact, plans: list[ArtifactPlan], folder: Path,
                   key: str) -> tuple[list[ModelArtifact], dict[str, Any], list[str]]:
        """The stage on a user's ONNX graph (:mod:`edgecv.quantize.from_onnx`)."""
        from edgecv.quantize.from_onnx import OnnxInt8, fp16_from_onnx
        from edgecv.quantize.onnx_export import quantized_opset

        if self.params.precision == "fp16":
            outputs, metrics = fp16_from_onnx(ctx, source, plans[0], plans[0].artifact_name(self.params.name), folder)
            return outputs, metrics, []
        quantized_opset(ctx)
        job = OnnxInt8(ctx, self.params, source, folder, key)
        try:
            return job.run(plans)
        finally:
            job.close()

    # ------------------------------------------------------------------------------------------------ INT8

    def _prepare(self, module: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
        from edgecv.quantize.bn_fold import FoldError, fold_batchnorm

        if not self.params.fold_batchnorm:
            return module.eval(), {"folded": 0, "enabled": False}
        try:
            folded, pairs = fold_batchnorm(module)
        except FoldError as exc:
            info(f"  BatchNorm not folded: {exc}")
            return module.eval(), {"folded": 0, "enabled": True, "skipped": str(exc)}
        return folded, {"folded": len(pairs), "enabled": True}

    def _int8(
        self, ctx: RunContext, module: nn.Module, source: ModelArtifact, plans: list[ArtifactPlan], folder: Path,
        key: str,
    ) -> tuple[list[ModelArtifact], dict[str, Any], list[str]]:
        import torch

        from edgecv.quantize.layers import model_layers, resolve_ignored
        from edgecv.quantize.nncf_ptq import calibration_data

        p = self.params
        prepared, fold = self._prepare(module)
        example = torch.zeros(1, *ctx.input_spec.shape)
        layers = model_layers(prepared, example)
        ignored = resolve_ignored(p.ignored_scope, layers, key)
        size = p.calibration_size or ctx.recipe.data.calibration_size
        calibration = calibration_data(ctx.splits.train, ctx.preprocessing, size, p.calibration_batch_size,
                                       ctx.recipe.data.seed, task=ctx.task)
        info(f"  calibration: {calibration.images} images; {len(layers)} layers with weights; "
             f"BatchNorm folded into {fold['folded']} convs")
        metrics: dict[str, Any] = {
            "precision": "int8", "method": p.method, "calibration_size": calibration.images,
            "calibration_source": calibration_source(ctx), "range_estimator": p.range_estimator,
            "bias_correction": p.bias_correction, "batchnorm": fold, "ignored_scope": [x.name for x in ignored],
            "schemes": [],
        }
        outputs: list[ModelArtifact] = []
        warnings: list[str] = []
        control = _AccuracyControl(ctx, self.params, prepared, layers, ignored, calibration, folder) \
            if p.max_accuracy_drop is not None else None
        try:
            self._schemes(ctx, prepared, source, plans, folder, key, (calibration, ignored, control),
                          outputs, metrics, warnings)
        finally:
            if control is not None:
                control.close()
        metrics["parity"] = [s["parity"] for s in metrics["schemes"]]  # the report's parity table reads this list
        if control is not None and not all(s["accuracy_control"]["met"] for s in metrics["schemes"]):
            warnings.append(f"accuracy budget ({control.budget.describe()}) not met for every scheme; "
                            "see metrics.schemes[].accuracy_control")
        return outputs, metrics, warnings

    def _schemes(
        self, ctx: RunContext, prepared: nn.Module, source: ModelArtifact, plans: list[ArtifactPlan], folder: Path,
        key: str, setup: tuple[Calibration, list[Layer], _AccuracyControl | None], outputs: list[ModelArtifact],
        metrics: dict[str, Any], warnings: list[str],
    ) -> None:
        from edgecv.quantize.nncf_ptq import range_estimator, weight_range, weight_type
        from edgecv.quantize.onnx_export import export_quantized, weight_storage

        p = self.params
        calibration, ignored, control = setup
        for plan in plans:
            assert plan.scheme is not None
            info(f"  scheme {plan.scheme.name} for {', '.join(plan.targets)}")
            scheme_params, quantized, tried = self._quantized(plan.scheme, prepared, calibration, ignored, control)
            scheme_metrics: dict[str, Any] = {"range_estimator": range_estimator(plan.scheme, scheme_params),
                                              "weight_range": weight_range(plan.scheme, scheme_params),
                                              "weight_type": weight_type(plan.scheme, scheme_params), **tried}
            if p.method == "qat":
                from edgecv import distributed
                from edgecv.quantize.qat import QatRebuild

                rebuild = QatRebuild(prepared, plan.scheme, p, [x.node for x in ignored], first_batch(calibration)) \
                    if distributed.active() else None
                quantized, scheme_metrics["qat"] = self._qat(ctx, quantized, folder / f"qat-{plan.scheme.short}",
                                                             key, rebuild)
            float_layers = [x.name for x in ignored]
            if control is not None:
                from edgecv.quantize.selection_noise import noise_warning, unresolved_gain_warning

                quantized, scheme_metrics["accuracy_control"] = control.run(plan, quantized, scheme_params)
                float_layers += scheme_metrics["accuracy_control"]["float_layers"]
                noise = scheme_metrics["accuracy_control"]["selection_noise"]
                gain = scheme_metrics["accuracy_control"]["float_gain"]
                for warning in (noise_warning(noise, control.budget, plan.scheme.name) if noise else None,
                                unresolved_gain_warning(gain, plan.scheme.name,
                                                        len(scheme_metrics["accuracy_control"]["float_layers"]))
                                if gain else None):
                    if warning:
                        info(f"  warning: {warning}")
                        warnings.append(warning)
            name = plan.artifact_name(p.name)
            artifact, exported, notes = export_quantized(
                ctx, quantized, source, folder / f"{name}.onnx", plan, p, name=name,
                precision="mixed" if float_layers else "int8", weights=weight_storage(plan.scheme, scheme_params),
            )
            outputs.append(artifact)
            warnings += notes
            metrics["schemes"].append({**exported, **scheme_metrics, "float_layers": float_layers})
            info(f"  {name}: {artifact.size_bytes / 1e6:.3f} MB, layers {exported['layers']['quantized']}/"
                 f"{exported['layers']['total']} quantized, parity {exported['parity']['reason']}")

    def _quantized(
        self, scheme: Scheme, prepared: nn.Module, calibration: Calibration, ignored: list[Layer],
        control: _AccuracyControl | None,
    ) -> tuple[QuantizeParams, nn.Module, dict[str, Any]]:
        """The stage's settings for this scheme, the PTQ model, and what was tried (metrics entries): where the
        recipe leaves a choice (``weight_type: fastest``, a list of range estimators), accuracy control makes it on
        the selection split (:mod:`edgecv.quantize.setting_choice`)."""
        from edgecv.quantize.cpu_isa import weight_type_candidates
        from edgecv.quantize.nncf_ptq import weight_range
        from edgecv.quantize.setting_choice import choose_within_budget

        p = self.params
        if p.weight_type != "fastest" or not scheme.store_int8_weights:
            return self._estimated(scheme, prepared, calibration, ignored, control, p)
        assert control is not None, "weight_type fastest needs max_accuracy_drop (validated)"
        built: dict[str, tuple[QuantizeParams, nn.Module, dict[str, Any]]] = {}

        def quantize(name: str) -> nn.Module:
            built.clear()  # one candidate's model in memory at a time
            built[name] = self._estimated(scheme, prepared, calibration, ignored, control,
                                          p.model_copy(update={"weight_type": name}))
            return built[name][1]

        def score(name: str, model: nn.Module) -> float:
            value = control.measure(model, scheme, f"{scheme.short}-weights-{name}", built[name][0])
            info(f"  {scheme.name}: {name} weights ({weight_range(scheme, built[name][0])} range), all-INT8 "
                 f"{control.metric.label} {control.metric.show(value)} on selection")
            return value

        choice = choose_within_budget(weight_type_candidates(scheme.name), quantize, score,
                                      lambda value: control.budget.met(control.reference, value))
        settings, model, tried = built.pop(choice.chosen)
        info(f"  {scheme.name}: {choice.chosen} weights kept")
        return settings, model, {**tried, "weight_types_tried": choice.record()}

    def _estimated(
        self, scheme: Scheme, prepared: nn.Module, calibration: Calibration, ignored: list[Layer],
        control: _AccuracyControl | None, p: QuantizeParams,
    ) -> tuple[QuantizeParams, nn.Module, dict[str, Any]]:
        """``p`` with this scheme's range estimator, the PTQ model, and (for a list of estimators, chosen by
        accuracy control on the selection split) every candidate's all-INT8 score."""
        from edgecv.quantize.nncf_ptq import quantize_ptq
        from edgecv.quantize.setting_choice import choose_range_estimator

        nodes = [x.node for x in ignored]
        if not isinstance(p.range_estimator, list):
            return p, quantize_ptq(prepared, scheme, calibration, p, nodes), {}
        assert control is not None, "a list of estimators needs max_accuracy_drop (validated)"

        def settings(name: str) -> QuantizeParams:
            return p.model_copy(update={"range_estimator": name})

        def score(name: str, model: nn.Module) -> float:
            value = control.measure(model, scheme, f"{scheme.short}-range-{name}", settings(name))
            info(f"  {scheme.name}: range estimator {name}, all-INT8 {control.metric.label} "
                 f"{control.metric.show(value)} on selection")
            return value

        choice = choose_range_estimator(
            list(p.range_estimator), lambda name: quantize_ptq(prepared, scheme, calibration, settings(name), nodes),
            score, control.metric.higher_is_better,
        )
        info(f"  {scheme.name}: range estimator {choice.chosen} kept")
        return settings(choice.chosen), choice.model, {"range_estimators_tried": choice.record()}

    def _qat(self, ctx: RunContext, quantized: nn.Module, workdir: Path, key: str,
             rebuild: Any) -> tuple[nn.Module, dict[str, Any]]:
        from edgecv.quantize.qat import qat_finetune

        outcome = qat_finetune(ctx, quantized, self.params, workdir, key, rebuild)
        quantized.eval()
        metrics = {"best_epoch": outcome.best_epoch, "best_score": outcome.best_score,
                   "start_score": outcome.start_score,
                   "history": outcome.history, "distill": self.params.distill is not None}
        if outcome.distributed is not None:
            metrics["distributed"] = outcome.distributed
        return quantized, metrics

    # ------------------------------------------------------------------------------------------------ FP16

    def _fp16(
        self, ctx: RunContext, module: nn.Module, source: ModelArtifact, plan: ArtifactPlan, folder: Path
    ) -> tuple[list[ModelArtifact], dict[str, Any]]:
        from edgecv.quantize.fp16 import EMULATION, fp16_emulation
        from edgecv.stages.export import export_checked

        name = plan.artifact_name(self.params.name)
        path = folder / f"{name}.onnx"
        artifact, parity = export_checked(ctx, module.eval(), source, path, name=name, precision="fp16",
                                          targets=plan.targets)
        emulated = fp16_emulation(path, folder / f"{name}.fp16-emulated.onnx")
        loader = ctx.val_loader()
        fp32, fp16 = score_onnx(ctx, path, loader), score_onnx(ctx, emulated, loader)
        metric = ctx.task.metric
        info(f"  {name}: FP32 ONNX {metric.label} {metric.show(fp32)}, FP16 emulated {metric.show(fp16)}")
        metrics = {
            "precision": "fp16", "targets": plan.targets, "parity": [parity.model_dump()],
            "onnx": "FP32 weights and graph; the TensorRT engine builder's FP16 flag converts on the device",
            f"fp32_{metric.key}": fp32, f"fp16_emulated_{metric.key}": fp16, "fp16_emulation": EMULATION,
            "emulated_onnx": str(emulated),
        }
        return [artifact], metrics


class _AccuracyControl:
    """The accuracy-controlled search for one stage: shared FP32 reference, per-scheme ranking and trials."""

    def __init__(self, ctx: RunContext, params: QuantizeParams, prepared: nn.Module, layers: list[Layer],
                 ignored: list[Layer], calibration: Calibration, folder: Path) -> None:
        import torch

        from edgecv.export.onnx import export_onnx
        from edgecv.quantize.accuracy_control import Budget
        from edgecv.quantize.onnx_export import quantized_opset

        self.ctx, self.params, self.prepared, self.calibration = ctx, params, prepared, calibration
        self.ignored = ignored
        self.candidates = [x for x in layers if x not in ignored]
        self.metric = ctx.task.metric
        self.budget = Budget(params.max_accuracy_drop or 0.0, params.drop_type, self.metric.higher_is_better)
        judged = ctx.splits.selection  # the decisions' images; the reported val split decides nothing
        count = min(params.accuracy_samples or len(judged), len(judged))  # type: ignore[arg-type]
        batch = decision_batch(ctx)
        self.selection = ctx.subset(judged, count)
        self.loader = ctx.loader(self.selection, batch)
        self.trials = Path(tempfile.mkdtemp(prefix="trials-", dir=folder))
        spec = ctx.input_spec.model_copy(update={"dynamic_batch": ctx.recipe.export.dynamic_batch})
        reference = export_onnx(ctx.task.export_module(prepared), spec, self.trials / "fp32.onnx",
                                opset=quantized_opset(ctx))
        self.reference = score_onnx(ctx, reference, self.loader)
        self._fp32_scorer: Scorer | None = None
        ranking_set = ctx.subset(ctx.splits.train, params.ranking_samples)
        self.images = torch.cat([x for x, _ in ctx.loader(ranking_set, batch)])
        info(f"  accuracy control: FP32 {self.metric.label} {self.metric.show(self.reference)} on {count} "
             "selection images, "
             f"budget {self.budget.describe()}")

    def close(self) -> None:
        """Remove the trial exports."""
        shutil.rmtree(self.trials, ignore_errors=True)

    def measure(self, quantized: nn.Module, scheme: Scheme, tag: str, params: QuantizeParams | None = None) -> float:
        """``quantized`` exported as a trial file (weights stored as ``params``, default the stage's, say) and
        scored on the selection images."""
        from edgecv.quantize.onnx_export import export_for_trial

        path = export_for_trial(self.ctx, quantized, self.trials / f"{tag}.onnx", scheme, params or self.params)
        return score_onnx(self.ctx, path, self.loader)

    def _trial_graph(self, quantized: nn.Module, scheme: Scheme) -> TrialGraph | None:
        """The fake-quantized model exported once for graph-edit trials; None when it cannot be (trials then
        re-quantize)."""
        import onnx

        from edgecv.quantize.onnx_export import quantized_opset
        from edgecv.quantize.trial_graph import TrialGraph

        spec = self.ctx.input_spec.model_copy(update={"dynamic_batch": self.ctx.recipe.export.dynamic_batch})
        try:
            return TrialGraph.export(quantized, spec, self.trials / f"{scheme.short}-base.onnx",
                                     quantized_opset(self.ctx), self.candidates, self.ctx.task.export_module,
                                     onnx.load(str(self.trials / "fp32.onnx")))
        except Exception as exc:  # a model the plain export cannot take: the re-quantizing trials still work
            info(f"  accuracy control: trials re-quantize ({type(exc).__name__}: {str(exc)[:120]})")
            return None

    def _graph_ranking(self, graph: TrialGraph, names: list[str]) -> list[LayerSensitivity]:
        """The quantized layers ``names`` ranked on the trial graph against the FP32 export's outputs on the
        ranking images (ignored-scope layers are not among them: they are float already)."""
        import onnx

        from edgecv.quantize.onnx_float_layers import run_batches

        step = 1 if not self.ctx.recipe.export.dynamic_batch else min(64, decision_batch(self.ctx))
        batches = [self.images[i : i + step].numpy() for i in range(0, len(self.images), step)]
        threads = self.ctx.recipe.validate_.threads
        target = run_batches(onnx.load(str(self.trials / "fp32.onnx")), batches, threads)
        candidates = {x.name for x in self.candidates}
        return graph.rank(target, batches, [n for n in names if n in candidates], threads)

    def run(self, plan: ArtifactPlan, quantized: nn.Module,
            params: QuantizeParams | None = None) -> tuple[nn.Module, dict[str, Any]]:
        """The layers to keep in float for ``plan``'s scheme and the model quantized with them in float
        (re-quantized with ``params``: the stage's, with this scheme's range estimator).

        Trials edit one exported graph (:mod:`edgecv.quantize.trial_graph`); the chosen set is then quantized once
        more with those layers in NNCF's ignored scope, and that artifact's own metric is what ``met`` reports."""
        from edgecv.quantize.accuracy_control import search_float_layers, search_record
        from edgecv.quantize.nncf_ptq import quantize_ptq
        from edgecv.quantize.onnx_export import weight_storage
        from edgecv.quantize.selection_noise import reverts_to_int8
        from edgecv.quantize.sensitivity import rank_layers

        assert plan.scheme is not None
        scheme = plan.scheme
        graph = self._trial_graph(quantized, scheme)
        by_name = {x.name: x for x in self.candidates}
        fixed = [x.node for x in self.ignored]

        settings = params or self.params

        def requantized(names: list[str]) -> nn.Module:
            return quantize_ptq(self.prepared, scheme, self.calibration, settings,
                                fixed + [by_name[n].node for n in names])

        def evaluate(names: list[str]) -> tuple[float, nn.Module | None]:
            tag = f"{scheme.short}-{len(names)}"
            if graph is not None and graph.covers(names):
                path = graph.trial_file(names, self.trials / f"{tag}.onnx", weights=weight_storage(scheme, settings))
                value, model = score_onnx(self.ctx, path, self.loader), None
            else:
                model = quantized if not names else requantized(names)
                value = self.measure(model, scheme, tag, settings)
            if names:
                info(f"  {scheme.name}: {len(names)} layer(s) in float -> {self.metric.label} "
                     f"{self.metric.show(value)}")
            return value, model

        initial, _ = evaluate([])
        info(f"  {scheme.name}: all-INT8 {self.metric.label} {self.metric.show(initial)}")
        named = graph.quantized_names() if graph is not None else None
        if self.budget.met(self.reference, initial):
            ranking = []
        elif graph is not None and named is not None:
            ranking = self._graph_ranking(graph, named)
        else:
            ranking = rank_layers(quantized, self.prepared, self.images, self.candidates,
                                  min(64, decision_batch(self.ctx)))
        outcome = search_float_layers(
            [r.name for r in ranking], evaluate, self.budget, reference=self.reference,
            initial=initial, initial_payload=quantized, limit=self.params.max_float_layers,
        )
        kept = [r.name for r in ranking[: outcome.float_layers]]
        chosen, final = outcome.payload, None
        if chosen is None:  # a graph trial was chosen: quantize once with those layers in float, and measure it
            chosen = requantized(kept) if kept else quantized
            final = self.measure(chosen, scheme, f"{scheme.short}-final", settings)
            info(f"  {scheme.name}: {len(kept)} layer(s) in float, quantized again -> {self.metric.label} "
                 f"{self.metric.show(final)}")
        met = outcome.met if final is None else self.budget.met(self.reference, final)
        chosen_file = self.trials / f"{scheme.short}-{'final' if final is not None else len(kept)}.onnx"
        gain = self._gain(scheme, chosen_file) if kept else None
        if reverts_to_int8(gain, kept, self.params.require_resolved_gain):
            kept, chosen, final, met = [], quantized, None, self.budget.met(self.reference, initial)
            chosen_file = self.trials / f"{scheme.short}-0.onnx"
        record = search_record(self.budget, self.metric.key, self.reference, len(self.loader.dataset),  # type: ignore[arg-type]
                               met, kept, ranking, outcome)
        return chosen, {**record, "trials_by": "graph edits" if graph is not None else "re-quantization",
                        "final": None if final is None else {
                            "value": round(final, 3), "drop": round(self.budget.drop(self.reference, final), 3)},
                        "float_gain": gain, "selection_noise": self._selection_noise(chosen_file)}

    def _gain(self, scheme: Scheme, chosen: Path) -> dict[str, Any] | None:
        """The float layers' gain over the all-INT8 trial file (see ``require_resolved_gain``); None when not
        measurable."""
        from edgecv.quantize.selection_noise import float_gain

        return float_gain(self.ctx, self.selection, self.trials / f"{scheme.short}-0.onnx", chosen, self.budget)

    def _selection_noise(self, chosen: Path) -> dict[str, Any] | None:
        """The chosen file's drop on the selection images with its paired-bootstrap interval (None when the split
        is too large to resample, or the file is not on disk)."""
        from edgecv.quantize.selection_noise import MAX_IMAGES, Scorer, paired_bootstrap_drop, per_image_outputs

        if not chosen.is_file() or len(self.selection) > MAX_IMAGES:
            return None
        threads = self.ctx.recipe.validate_.threads
        one = self.ctx.loader(self.selection, 1)
        labels = self.ctx.splits.labels
        if self._fp32_scorer is None:
            fp32 = per_image_outputs(self.trials / "fp32.onnx", one, threads)
            self._fp32_scorer = Scorer(self.ctx.task, labels, fp32)
        candidate = per_image_outputs(chosen, one, threads)
        return paired_bootstrap_drop(self.ctx.task, labels, self._fp32_scorer, candidate, self.budget)


def first_batch(calibration: Any) -> torch.Tensor:
    """The first calibration batch (what another rank builds the fake-quantized structure on, for QAT)."""
    return next(iter(calibration.dataset.get_inference_data()))
