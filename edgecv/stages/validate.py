"""Validate every exported artifact on every device: accuracy through its runtime, latency measured or estimated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecv.artifacts import ModelArtifact, StageResult
from edgecv.console import info
from edgecv.devices import DeviceProfile
from edgecv.report.schema import Validation
from edgecv.stages.contract import ANY_FORMAT, Stage, register_stage
from edgecv.validate.int8_speed import add_int8_speed_notes
from edgecv.validate.latency import LatencyResult
from edgecv.validate.samples import Samples
from edgecv.validate.visuals import SAMPLE_IMAGES, Shown, write_visuals

if TYPE_CHECKING:
    from edgecv.runtime import OrtRunner
    from edgecv.stages.base import CurrentModel, RunContext


def exported_artifacts(ctx: RunContext, current: CurrentModel) -> list[ModelArtifact]:
    """Every ONNX artifact of the run: the FP32 exports first (the first is the baseline), then the others."""
    exports = [a for r in ctx.results if r.kind == "export-onnx" for a in r.outputs]
    others = [a for r in ctx.results if r.kind != "export-onnx" for a in r.outputs if a.format == "onnx"]
    return exports + others or [current.artifact]



@register_stage
class ValidateStage(Stage):
    """Accuracy of each exported ONNX model on val through ONNX Runtime; latency per device and batch size."""

    kind = "validate"
    accepts = ANY_FORMAT

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        from edgecv.runtime import OrtRunner
        from edgecv.validate.accuracy import evaluate_runner
        from edgecv.validate.budgets import apply_budgets

        started = time.perf_counter()
        section = ctx.recipe.validate_
        validations: list[Validation] = []
        baseline: float | None = None
        metric = ctx.task.metric
        torch_scores = {a.name: r.metrics.get(metric.key) for r in ctx.results for a in r.outputs}
        artifacts = exported_artifacts(ctx, current)
        drawer = ctx.task.sample_drawer(ctx.splits.labels, ctx.splits.val)
        shown: list[Shown] = []
        for position, artifact in enumerate(artifacts):
            role = "baseline" if position == 0 else "final" if position == len(artifacts) - 1 else None
            samples = Samples(SAMPLE_IMAGES) if drawer is not None and role else None
            with OrtRunner(artifact.path, threads=section.threads) as runner:
                metrics = evaluate_runner(runner, ctx.val_loader(), ctx.splits.labels, ctx.task, samples=samples)
                if samples is not None and role:
                    shown.append(Shown(role, artifact.name, samples, metrics))
                score = metric.value(metrics) or 0.0
                baseline = score if baseline is None else baseline
                info(f"  {artifact.name}: {metric.label} {metric.show(score)} on {metrics.get('samples')} val images")
                for device in (d for d in ctx.devices if artifact.serves(d.name)):
                    latency, source, detail = self._latency(runner, artifact, device, ctx)
                    entry = self._entry(ctx, artifact, device, metrics, baseline, (latency, source, detail))
                    entry.metrics[f"torch_{metric.key}"] = torch_scores.get(artifact.parent or "")
                    self._add_footprint(entry, artifact, device)
                    validations.append(entry)
        apply_budgets(validations, ctx.recipe.report.budgets, ctx.recipe.task)
        result = StageResult(
            stage=folder.name,
            kind=self.kind,
            inputs=[v.artifact for v in validations],
            metrics={"validations": [v.model_dump() for v in validations]},
            seconds=time.perf_counter() - started,
        )
        if drawer is not None and shown:
            result.files = write_visuals(folder, ctx.run_dir, drawer, ctx.preprocessing, shown)
        add_int8_speed_notes(result, validations, artifacts)  # INT8 not faster: say why
        return result

    @staticmethod
    def _latency(
        runner: OrtRunner, artifact: ModelArtifact, device: DeviceProfile, ctx: RunContext
    ) -> tuple[list[LatencyResult], str, dict[str, Any]]:
        from edgecv.validate.estimate_latency import estimated_latencies
        from edgecv.validate.latency import measure_latency

        section = ctx.recipe.validate_
        if device.measurable_here:
            batches = section.batch_sizes
            if runner.fixed_batch is not None and batches != [runner.fixed_batch]:
                info(f"  {artifact.name} takes only batch {runner.fixed_batch} (a static-batch graph): latency is "
                     f"measured at that batch, not at {batches}")
                batches = [runner.fixed_batch]
            results = [
                measure_latency(runner, artifact.input.shape, b, warmup=section.warmup, runs=section.runs)
                for b in batches
            ]
            for r in results:
                info(
                    f"  {artifact.name} on {device.name}, batch {r.batch}: p50 {r.p50_ms:.3f} ms, "
                    f"{r.throughput:.0f} img/s ({r.threads} threads, measured)"
                )
            return results, "measured", {}
        return estimated_latencies(artifact, device, section.batch_sizes)

    @staticmethod
    def _add_footprint(entry: Validation, artifact: ModelArtifact, device: DeviceProfile) -> None:
        """File size, estimated runtime memory at batch 1 and the device's own budgets, for the verdicts."""
        from edgecv.validate.budgets import budget_dict
        from edgecv.validate.memory import estimate_memory

        entry.model_size_mb = round(artifact.size_bytes / 1e6, 6) if artifact.size_bytes else None
        entry.device_budgets = budget_dict(device.budgets)
        precision = artifact.precision if artifact.precision in device.precisions else "fp32"
        try:
            memory = estimate_memory(artifact.path, batch=1, precision=precision)
        except Exception as exc:  # an estimate must never fail validation; the reason is reported
            entry.memory_detail = {"reason": f"{type(exc).__name__}: {exc}"}
            return
        entry.memory_mb = round(memory.total_mb, 4)
        entry.memory_detail = memory.as_dict()

    @staticmethod
    def _entry(
        ctx: RunContext,
        artifact: ModelArtifact,
        device: DeviceProfile,
        metrics: dict[str, Any],
        baseline: float,
        timing: tuple[list[LatencyResult], str, dict[str, Any]],
    ) -> Validation:
        """One (artifact, device) row: the task's headline metrics (``<key>``, ``<key>_delta`` from the baseline)."""
        latency, source, detail = timing
        key = ctx.task.metric.key
        return Validation(
            artifact=artifact.name,
            device=device.name,
            backend=device.runtime if source != "measured" else "onnxruntime-cpu",
            precision=artifact.precision,
            metrics={**ctx.task.summary(metrics), f"{key}_delta": round((metrics.get(key) or 0.0) - baseline, 3)},
            per_class=metrics.get("per_class") or {},
            confusion=metrics.get("confusion") or [],
            latency=latency,
            latency_source=source,
            estimate_detail=detail,  # type: ignore[arg-type]
        )
