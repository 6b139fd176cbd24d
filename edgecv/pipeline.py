"""Run a recipe's stages in order into a run folder, and resume a run from its last finished stage.

Each stage writes ``<run>/<NN-kind>/`` and, last of all, ``stage.json`` (its StageResult). A stage folder with a
stage.json is finished; on ``--resume`` it is read back instead of redone. Training also checkpoints every epoch,
so an interrupted training stage resumes from its last epoch.

Example::

    from edgecv.pipeline import run_pipeline
    report = run_pipeline(load_recipe("recipes/quickstart.yaml"))
    report.status, report.run_dir
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from edgecv.artifacts import ModelArtifact, StageResult, atomic_write_json
from edgecv.console import info
from edgecv.errors import EdgecvError
from edgecv.preflight import prefixed, preflight
from edgecv.recipe import Recipe
from edgecv.registry import stage_class
from edgecv.report.build import build_report, write_reports
from edgecv.report.schema import Report
from edgecv.run_dir import latest_run_dir, new_run_dir, write_manifest
from edgecv.stages.base import CurrentModel, RunContext, Stage


def plan(recipe: Recipe) -> list[tuple[str, Stage]]:
    """The stages a recipe runs, with their folder names: load, train, the recipe's stages, export, validate,
    and deploy when the recipe lists ``export.bundles``."""
    steps: list[tuple[str, Any]] = [("load", None)]
    if recipe.train.epochs > 0:
        steps.append(("train", recipe.train))
    steps += [(params.type, params) for params in recipe.stages]
    steps += [("export-onnx", recipe.export), ("validate", recipe.validate_)]
    if recipe.export.bundles:
        steps.append(("deploy", recipe.export))  # deploy bundles, after validation measured their accuracy
    return [(f"{index:02d}-{kind}", stage_class(kind)(params)) for index, (kind, params) in enumerate(steps)]


class Interrupted(KeyboardInterrupt):
    """Raised from SIGTERM so a killed run records 'interrupted' like Ctrl-C does."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def _finished(folder: Path) -> StageResult | None:
    path = folder / "stage.json"
    return StageResult.model_validate_json(path.read_text()) if path.is_file() else None


def run_pipeline(recipe: Recipe, *, resume: bool = False, run_dir: Path | None = None) -> Report:
    """Run (or resume) a recipe end to end and return its report. See the module docstring."""
    started = time.perf_counter()
    steps = plan(recipe)
    if resume and run_dir is None:
        run_dir = latest_run_dir(recipe)
    devices, splits, pre, spec, model = preflight(recipe)
    info(
        f"data: {len(splits.train)} train / {len(splits.val)} val images, {splits.num_classes} classes "
        f"({splits.source})"
    )
    run_dir = run_dir or new_run_dir(recipe)
    info(f"run folder: {run_dir}")
    ctx = RunContext(
        recipe=recipe,
        run_dir=run_dir,
        splits=splits,
        devices=devices,
        preprocessing=pre,
        input_spec=spec,
        initial_model=model,
    )
    current: CurrentModel | None = None
    artifacts: list[ModelArtifact] = []
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupted)
    status, error = "running", None
    try:
        write_manifest(run_dir, recipe, status, artifacts, [])
        for folder_name, stage in steps:
            folder = run_dir / folder_name
            result = _finished(folder)
            if result is not None:
                info(f"[{folder_name}] already finished; reusing it")
            else:
                info(f"[bold][{folder_name}][/bold] {stage.kind}")
                folder.mkdir(parents=True, exist_ok=True)
                stage_started = time.perf_counter()
                result = stage.run(ctx, current or CurrentModel(artifact=None), folder)  # type: ignore[arg-type]
                result.seconds = round(time.perf_counter() - stage_started, 3)
                atomic_write_json(folder / "stage.json", result.model_dump(mode="json"))
                info(f"  done in {result.seconds:.1f}s {_headline(result)}")
            ctx.results.append(result)
            if result.outputs:
                artifacts += result.outputs
                if current is None or current.artifact.name != result.output.name:
                    current = CurrentModel(artifact=result.output, module=None)
                if result.kind == "load" and model is not None:
                    current.module = model
            write_manifest(run_dir, recipe, status, artifacts, [r.stage for r in ctx.results])
        report = build_report(recipe, ctx, "complete", time.perf_counter() - started)
        write_reports(report, run_dir, recipe.report.formats)
        status = "complete"
    except EdgecvError as exc:
        status, error = "failed", str(prefixed(recipe, exc))
        raise prefixed(recipe, exc) from exc
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted; continue with --resume"
        raise
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        write_manifest(run_dir, recipe, status, artifacts, [r.stage for r in ctx.results], error)
    return report


def _headline(result: StageResult) -> str:
    parts = []
    if "top1" in result.metrics:
        parts.append(f"top-1 {result.metrics['top1']:.2f}%")
    if result.outputs and result.output.params:
        parts.append(f"{result.output.params / 1e6:.3f}M params")
    return f"({', '.join(parts)})" if parts else ""
