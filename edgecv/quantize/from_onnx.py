"""The quantize stage on a user's ONNX model (``model.onnx``): INT8 per scheme with accuracy control, or FP16.

INT8 per scheme: NNCF ONNX PTQ (:mod:`edgecv.quantize.onnx_ptq`) -> [accuracy control: layers ranked by output
NMSE against the FP32 graph, the fewest put back in float (:mod:`edgecv.quantize.onnx_float_layers`) so the task
metric on the selection split stays in budget] -> the scheme's form (TensorRT: float weights behind Q/DQ; ONNX
Runtime CPU: the same rewrites as torch-made artifacts) -> parity against the graph before those rewrites run as
fake quantization (ONNX Runtime with graph optimizations off), TensorRT rules for TensorRT targets.
FP16: the graph itself targets the FP16 devices (TensorRT converts it at build time), with the FP16 emulation's
accuracy on the CPU, as for torch-made models.

Example (recipe)::

    model: {onnx: model.onnx, mean: [0, 0, 0], std: [1, 1, 1]}
    stages:
      - {type: quantize, max_accuracy_drop: 0.5}
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from edgecv.artifacts import ModelArtifact, atomic_save, sha256_file
from edgecv.console import info
from edgecv.errors import RecipeError

if TYPE_CHECKING:
    from edgecv.quantize.schemes import ArtifactPlan, Scheme
    from edgecv.stages.base import CurrentModel, RunContext


def onnx_source(ctx: RunContext, current: CurrentModel) -> ModelArtifact | None:
    """The run's FP32 ONNX model when the run has no torch model (``model.onnx``); None otherwise."""
    if any(a.format == "torch" for r in ctx.results for a in r.outputs):
        return None
    loaded = [a for r in ctx.results if r.kind == "load-onnx" for a in r.outputs]
    return loaded[-1] if loaded else None


def resolve_onnx_ignored(entries: list[str], model: onnx.ModelProto, key: str) -> list[str]:
    """``ignored_scope`` entries (node names, or regexes prefixed ``re:``) as node names of ``model``."""
    names = [n.name for n in model.graph.node]
    chosen: list[str] = []
    for index, entry in enumerate(entries):
        found = [n for n in names if re.fullmatch(entry[3:], n)] if entry.startswith("re:") else \
            [entry] if entry in names else []
        if not found:
            raise RecipeError(f"key '{key}.ignored_scope[{index}]': {entry!r} names no node of the ONNX model "
                              f"(nodes look like {', '.join(names[:3])}); use a node name or a 're:' regex")
        chosen += [n for n in found if n not in chosen]
    return chosen


def _fixed_batch(model: onnx.ModelProto) -> int | None:
    initializers = {t.name for t in model.graph.initializer}
    first = next(i for i in model.graph.input if i.name not in initializers).type.tensor_type.shape.dim[0]
    return first.dim_value if first.HasField("dim_value") and first.dim_value > 0 else None


class OnnxInt8:
    """INT8 artifacts of an ONNX source, one per scheme plan (see the module docstring)."""

    def __init__(self, ctx: RunContext, params: Any, source: ModelArtifact, folder: Path, key: str) -> None:
        from edgecv.quantize.onnx_ptq import onnx_calibration
        from edgecv.stages.quantize import calibration_source

        self.ctx, self.params, self.source, self.folder, self.key = ctx, params, source, folder, key
        self.model = onnx.load(source.path)
        self.batch = _fixed_batch(self.model)
        self.ignored = resolve_onnx_ignored(params.ignored_scope, self.model, key)
        size = params.calibration_size or ctx.recipe.data.calibration_size
        self.calibration = onnx_calibration(ctx.task, ctx.splits.train, ctx.preprocessing, ctx.input_spec.name,
                                            size, self.batch or params.calibration_batch_size, ctx.recipe.data.seed)
        self.trials = Path(tempfile.mkdtemp(prefix="trials-", dir=folder))
        self.metrics: dict[str, Any] = {
            "precision": "int8", "method": "ptq", "source": "onnx (model.onnx), NNCF's ONNX backend",
            "calibration_size": self.calibration.images, "calibration_source": calibration_source(ctx),
            "range_estimator": params.range_estimator, "bias_correction": params.bias_correction,
            "ignored_scope": self.ignored, "schemes": [],
        }
        info(f"  calibration: {self.calibration.images} images; ONNX source {Path(source.path).name}")

    def close(self) -> None:
        """Remove the trial files."""
        shutil.rmtree(self.trials, ignore_errors=True)

    def run(self, plans: list[ArtifactPlan]) -> tuple[list[ModelArtifact], dict[str, Any], list[str]]:
        """One artifact per plan; the metrics as the torch path writes them (schemes, parity, accuracy control)."""
        from edgecv.quantize.nncf_ptq import range_estimator, weight_range, weight_type
        from edgecv.quantize.onnx_ptq import quantize_onnx

        outputs, warnings = [], []
        control = _OnnxControl(self) if self.params.max_accuracy_drop is not None else None
        for plan in plans:
            assert plan.scheme is not None
            info(f"  scheme {plan.scheme.name} for {', '.join(plan.targets)}")
            quantized = quantize_onnx(self.model, plan.scheme, self.calibration, self.params, self.ignored)
            scheme_metrics: dict[str, Any] = {"range_estimator": range_estimator(plan.scheme, self.params),
                                              "weight_range": weight_range(plan.scheme, self.params),
                                              "weight_type": weight_type(plan.scheme, self.params)}
            float_layers: list[str] = []
            if control is not None:
                from edgecv.quantize.selection_noise import unresolved_gain_warning

                float_layers, scheme_metrics["accuracy_control"] = control.search(plan.scheme, quantized)
                gain = scheme_metrics["accuracy_control"]["float_gain"]
                warning = unresolved_gain_warning(gain, plan.scheme.name, len(float_layers)) if gain else None
                if warning:
                    info(f"  warning: {warning}")
                    warnings.append(warning)
            artifact, exported, notes = self._write(plan, quantized, float_layers)
            outputs.append(artifact)
            warnings += notes
            self.metrics["schemes"].append({**exported, **scheme_metrics,
                                            "float_layers": [*self.ignored, *float_layers]})
            info(f"  {artifact.name}: {artifact.size_bytes / 1e6:.3f} MB, layers {exported['layers']['quantized']}/"
                 f"{exported['layers']['total']} quantized, parity {exported['parity']['reason']}")
        self.metrics["parity"] = [s["parity"] for s in self.metrics["schemes"]]
        if control is not None and not all(s["accuracy_control"]["met"] for s in self.metrics["schemes"]):
            warnings.append(f"accuracy budget ({control.budget.describe()}) not met for every scheme; "
                            "see metrics.schemes[].accuracy_control")
        return outputs, self.metrics, warnings

    def _write(self, plan: ArtifactPlan, quantized: onnx.ModelProto,
               float_layers: list[str]) -> tuple[ModelArtifact, dict[str, Any], list[str]]:
        from edgecv.quantize.onnx_export import rewrite_qdq, tensorrt_checks, weight_storage
        from edgecv.quantize.onnx_float_layers import keep_float
        from edgecv.quantize.onnx_graph import layer_counts, ort_fusion
        from edgecv.quantize.onnx_ptq import float_weights_behind_qdq
        from edgecv.quantize.standard_ops import require_standard_ops
        from edgecv.runtime import OrtRunner
        from edgecv.stages.export import comparison_path, parity_check

        scheme = plan.scheme
        assert scheme is not None
        name = plan.artifact_name(self.params.name)
        path = self.folder / f"{name}.onnx"
        final = keep_float(quantized, float_layers, self.model)
        fake = self.trials / f"{name}.fake-quantized.onnx"
        onnx.save(final, str(fake))
        moved = 0 if scheme.store_int8_weights else float_weights_behind_qdq(final)
        atomic_save(path, lambda tmp: onnx.save(final, str(tmp)))
        stored = rewrite_qdq(path, weight_storage(scheme, self.params))
        judged_by = f"{self.key}.parity"
        threads = self.ctx.recipe.validate_.threads
        with OrtRunner(fake, threads=threads, optimize=False) as reference, OrtRunner(path, threads=threads) as runner:
            parity = parity_check(self.ctx, reference, runner, (f"{name} (fake-quantized)", name), self.params.parity,
                                  judged_by=judged_by, store=comparison_path(path))
        model = onnx.load(str(path))
        require_standard_ops(model, path.name)
        artifact = ModelArtifact(
            name=name, format="onnx", path=str(path), input=self.ctx.input_spec,
            preprocessing=self.ctx.preprocessing, precision="mixed" if float_layers or self.ignored else "int8",
            size_bytes=path.stat().st_size, params=self.source.params, macs=self.source.macs, sha256=sha256_file(path),
            parent=self.source.name, arch=self.source.arch, targets=plan.targets,
        )
        initializers = sum(t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) and len(t.dims) > 1
                           for t in model.graph.initializer)
        metrics: dict[str, Any] = {
            "scheme": scheme.name, "artifact": name, "targets": plan.targets, "activations": scheme.activations,
            "weights": scheme.weights,
            "weights_stored": "int8" if scheme.store_int8_weights else "float (QuantizeLinear -> DequantizeLinear)",
            "int8_weight_initializers": initializers if scheme.store_int8_weights else stored,
            "weights_put_back_behind_qdq": moved, "size_bytes": artifact.size_bytes,
            "qdq_nodes": sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node),
            "layers": layer_counts(model), "parity": parity.model_dump(),
            "parity_reference": "the same graph before the scheme's rewrites, run by ONNX Runtime without graph "
                                "optimizations (fake quantization)",
        }
        if scheme.name == "onnxruntime-cpu":
            metrics["ort_fusion"] = ort_fusion(path)
        checks, warnings = tensorrt_checks(self.ctx, path, plan)
        if checks:
            metrics["tensorrt_check"] = checks
        return artifact, metrics, warnings


class _OnnxControl:
    """Accuracy control on the selection split: FP32 reference once, then per scheme a ranking and a search."""

    def __init__(self, job: OnnxInt8) -> None:
        from edgecv.quantize.accuracy_control import Budget
        from edgecv.quantize.onnx_float_layers import run_batches
        from edgecv.stages.quantize import decision_batch, score_onnx

        ctx, params = job.ctx, job.params
        self.job = job
        self.metric = ctx.task.metric
        self.budget = Budget(params.max_accuracy_drop or 0.0, params.drop_type, self.metric.higher_is_better)
        judged = ctx.splits.selection  # the decisions' images; the reported val split decides nothing
        count = min(params.accuracy_samples or len(judged), len(judged))
        self.selection = ctx.subset(judged, count)
        self.loader = ctx.loader(self.selection, decision_batch(ctx))
        self.reference = score_onnx(ctx, Path(job.source.path), self.loader)
        batch = job.batch or min(16, decision_batch(ctx))
        ranking_set = ctx.subset(ctx.splits.train, params.ranking_samples)
        images = np.concatenate([x.numpy() for x, _ in ctx.loader(ranking_set, batch)])
        usable = len(images) - len(images) % batch if job.batch else len(images)
        self.batches = [images[i : i + batch] for i in range(0, max(usable, batch), batch)]
        self.target = run_batches(job.model, self.batches, ctx.recipe.validate_.threads)
        info(f"  accuracy control: FP32 {self.metric.label} {self.metric.show(self.reference)} on {count} "
             f"selection images, budget {self.budget.describe()}")

    def search(self, scheme: Scheme, quantized: onnx.ModelProto) -> tuple[list[str], dict[str, Any]]:
        """The layers to keep in float for ``scheme`` (fewest first in ranking order) and the search's record."""
        from edgecv.quantize.accuracy_control import search_float_layers, search_record
        from edgecv.quantize.onnx_export import weight_storage
        from edgecv.quantize.onnx_float_layers import quantized_layers
        from edgecv.quantize.trial_graph import TrialGraph
        from edgecv.stages.quantize import score_onnx

        ctx, job = self.job.ctx, self.job
        graph = TrialGraph(quantized, {n: n for n in quantized_layers(quantized)}, job.model)  # names are nodes

        def measure(names: list[str]) -> float:
            path = graph.trial_file(names, job.trials / f"{scheme.short}-{len(names)}.onnx",
                                    weights=weight_storage(scheme, job.params))
            return score_onnx(ctx, path, self.loader)

        initial = measure([])
        info(f"  {scheme.name}: all-INT8 {self.metric.label} {self.metric.show(initial)}")
        ranking = [] if self.budget.met(self.reference, initial) else \
            graph.rank(self.target, self.batches, list(graph.nodes), ctx.recipe.validate_.threads)

        def evaluate(names: list[str]) -> tuple[float, None]:
            value = measure(names)
            info(f"  {scheme.name}: {len(names)} layer(s) in float -> {self.metric.label} {self.metric.show(value)}")
            return value, None

        outcome = search_float_layers([r.name for r in ranking], evaluate, self.budget, reference=self.reference,
                                      initial=initial, limit=job.params.max_float_layers)
        kept, met = [r.name for r in ranking[: outcome.float_layers]], outcome.met
        gain = None
        if kept:
            from edgecv.quantize.selection_noise import float_gain, reverts_to_int8

            gain = float_gain(ctx, self.selection, job.trials / f"{scheme.short}-0.onnx",
                              job.trials / f"{scheme.short}-{len(kept)}.onnx", self.budget)
            if reverts_to_int8(gain, kept, job.params.require_resolved_gain):
                kept, met = [], self.budget.met(self.reference, initial)
        record = search_record(self.budget, self.metric.key, self.reference, len(self.loader.dataset),  # type: ignore[arg-type]
                               met, kept, ranking, outcome)
        return kept, {**record, "float_gain": gain}


def fp16_from_onnx(ctx: RunContext, source: ModelArtifact, plan: ArtifactPlan, name: str,
                   folder: Path) -> tuple[list[ModelArtifact], dict[str, Any]]:
    """The FP32 graph as the FP16 devices' artifact (TensorRT converts at build time), with the CPU emulation's
    accuracy beside the FP32 graph's."""
    from edgecv.quantize.fp16 import EMULATION, fp16_emulation
    from edgecv.stages.quantize import score_onnx

    path = folder / f"{name}.onnx"
    atomic_save(path, lambda tmp: shutil.copyfile(source.path, tmp))
    artifact = source.model_copy(update={"name": name, "path": str(path), "precision": "fp16",
                                         "parent": source.name, "targets": plan.targets})
    emulated = fp16_emulation(path, folder / f"{name}.fp16-emulated.onnx")
    loader = ctx.val_loader()
    fp32, fp16 = score_onnx(ctx, path, loader), score_onnx(ctx, emulated, loader)
    metric = ctx.task.metric
    info(f"  {name}: FP32 ONNX {metric.label} {metric.show(fp32)}, FP16 emulated {metric.show(fp16)}")
    return [artifact], {
        "precision": "fp16", "targets": plan.targets, "parity": [],
        "onnx": "the given graph with FP32 weights; the TensorRT engine builder's FP16 flag converts on the device",
        f"fp32_{metric.key}": fp32, f"fp16_emulated_{metric.key}": fp16, "fp16_emulation": EMULATION,
        "emulated_onnx": str(emulated),
    }
