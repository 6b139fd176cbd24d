"""Run a recipe's stages in order into a run folder, and resume a run from its last finished stage.

Each stage writes ``<run>/<NN-kind>/`` and, last of all, ``stage.json`` (its StageResult, paths relative to the
run folder, and the stage's fingerprint). A stage folder with a stage.json is finished; on ``--resume`` it is read
back instead of redone when its fingerprint still matches the recipe (:mod:`edgecv.resume`: the first stage
that differs and every later one run again), after every file it lists is checked against its recorded sha256.
Training also checkpoints every epoch, so an interrupted training stage resumes from its last epoch. Parity
verdicts are judged here, from the comparisons a stage stored (:mod:`edgecv.validate.parity`): a warn-mode
failure becomes a warning, a fail-mode one stops the run after the stage's result is stored, so a loosened
tolerance re-judges it on ``--resume``. An exception that escapes a stage becomes one line that names the stage
and the run folder; its traceback goes to ``<run>/error.log``.

Example::

    from edgecv.pipeline import run_pipeline
    report = run_pipeline(load_recipe("recipes/quickstart.yaml"))
    report.status, report.run_dir
"""

from __future__ import annotations

import contextlib
import signal
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from edgecv import distributed
from edgecv.artifacts import StageResult, atomic_write_json, atomic_write_text, sha256_file
from edgecv.console import info
from edgecv.errors import EdgecvError, PeerLost, RecipeError, StageFailure, ValidationFailure
from edgecv.input_checks import describe_os_error
from edgecv.plan import Step, plan, plan_steps
from edgecv.preflight import prefixed, preflight
from edgecv.recipe import Recipe
from edgecv.report.build import build_report, write_reports
from edgecv.report.schema import Report
from edgecv.resume import (
    FINGERPRINT,
    STARTED,
    apply_resume,
    describe,
    fingerprint_record,
    plan_resume,
    read_stage_json,
)
from edgecv.run_dir import latest_run_dir, new_run_dir, run_lock, write_manifest
from edgecv.run_paths import absolute_in_run, relative_to_run
from edgecv.stages.base import CurrentModel, RunContext
from edgecv.validate.parity import failed_verdicts, note_verdicts, rejudge_stage

if TYPE_CHECKING:
    from edgecv.tasks.base import Metric

__all__ = ["Interrupted", "plan", "run_pipeline"]

ERROR_LOG = "error.log"
"""The traceback of a stage that failed unexpectedly, in the run folder (the console gets one line)."""


class Interrupted(KeyboardInterrupt):
    """Raised from SIGTERM so a killed run records 'interrupted' like Ctrl-C does."""


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def _finished(folder: Path, run_dir: Path) -> StageResult | None:
    """The stage's result when it finished in an earlier attempt, with every file it wrote verified unchanged."""
    path = folder / "stage.json"
    if not path.is_file():
        return None
    try:
        data, _ = read_stage_json(path)  # its fingerprint was compared by plan_resume
        result = absolute_in_run(StageResult.model_validate(data), run_dir)
    except ValueError as exc:
        raise RecipeError(f"--resume: {path} is not a stage result edgecv wrote ({exc.__class__.__name__}); "
                          "start a new run without --resume") from exc
    for artifact in result.outputs:
        file = Path(artifact.path)
        if file.resolve().is_relative_to(run_dir.resolve()) and artifact.sha256 is not None:
            _check_unchanged(file, artifact.sha256, f"artifact '{artifact.name}' of {folder.name}")
    for relative, recorded in result.files.items():
        _check_unchanged(run_dir / relative, recorded, f"a file of {folder.name}")
    return result


def _check_unchanged(file: Path, recorded: str, what: str) -> None:
    """RecipeError when a file a finished stage wrote is gone or changed (its sha256 differs from ``recorded``)."""
    if not file.is_file():
        raise RecipeError(f"--resume: {file} ({what}) is gone; start a new run without --resume")
    digest = sha256_file(file)
    if digest != recorded:
        raise RecipeError(
            f"--resume: {file} was changed after the run wrote it (sha256 {digest[:12]}, recorded "
            f"{recorded[:12]}); restore it or start a new run without --resume"
        )


def _store(step: Step, result: StageResult, run_dir: Path) -> None:
    """Write the step's stage.json (its result and fingerprint) atomically; its presence means "finished"."""
    data = relative_to_run(result, run_dir).model_dump(mode="json") | {FINGERPRINT: fingerprint_record(step)}
    atomic_write_json(run_dir / step.folder / "stage.json", data)


def _run_step(step: Step, ctx: RunContext, current: CurrentModel | None, run_dir: Path) -> StageResult:
    """The step's result: read back when it finished before (its parity re-judged with the recipe's tolerances),
    else run now and stored (stage.json last). A failed fail-mode parity verdict raises after it is stored."""
    folder = run_dir / step.folder
    result = _finished(folder, run_dir)
    if result is not None:
        rejudged = rejudge_stage(result, ctx.recipe, run_dir)
        info(f"[{step.folder}] already finished; reusing it{'; parity re-judged: ' if rejudged else ''}"
             f"{', '.join(rejudged)}")
        if rejudged:
            _store(step, result, run_dir)
    else:
        info(f"[bold][{step.folder}][/bold] {step.stage.kind}")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / STARTED, {FINGERPRINT: fingerprint_record(step)})
        started = time.perf_counter()
        result = step.stage.run(ctx, current or CurrentModel(artifact=None), folder)  # type: ignore[arg-type]
        result.seconds = round(time.perf_counter() - started, 3)
        note_verdicts(result)
        _store(step, result, run_dir)
        info(f"  done in {result.seconds:.1f}s {_headline(result, ctx.task.metric)}")
    failed = failed_verdicts(result)
    if failed:
        raise ValidationFailure(f"{folder}: {failed[0]}")
    return result


def _failure(exc: Exception, step: Step | None, run_dir: Path) -> EdgecvError:
    """One line for an exception that escaped a stage; its traceback goes to ``<run>/error.log``."""
    log = run_dir / ERROR_LOG
    where = f"stage {step.folder} ({step.stage.kind})" if step else "the run"
    try:
        atomic_write_text(log, f"{where} failed\n\n{traceback.format_exc()}")
        logged = f"traceback in {log}"
    except OSError:
        logged = "the traceback could not be written"
    if isinstance(exc, OSError) and exc.errno is not None:
        return describe_os_error(exc, exc.filename or run_dir)
    reason = (str(exc).strip().splitlines() or [""])[0][:300]
    failure = StageFailure
    if distributed.peer_lost(exc):
        reason = "lost contact with another rank: it failed or was stopped, and its own error line names it"
        failure = PeerLost
    return failure(
        f"{where} failed: {type(exc).__name__}: {reason} ({logged}); the run folder {run_dir} keeps the finished "
        "stages: fix the cause and continue with --resume"
    )


def run_pipeline(recipe: Recipe, *, resume: bool = False, run_dir: Path | None = None) -> Report:
    """Run (or resume) a recipe end to end and return its report. See the module docstring.

    ``threads.torch`` holds for the run only: torch's thread count is restored afterwards.
    """
    import torch

    previous = torch.get_num_threads()
    try:
        return _run_pipeline(recipe, resume, run_dir)
    finally:
        torch.set_num_threads(previous)


def _run_pipeline(recipe: Recipe, resume: bool, run_dir: Path | None) -> Report:
    """The run itself (see :func:`run_pipeline`)."""
    started = time.perf_counter()
    steps = plan_steps(recipe)
    if resume and run_dir is None:
        run_dir = latest_run_dir(recipe)
    if run_dir is not None and (run_dir / "manifest.json").is_file():
        plan_resume(run_dir, steps, recipe)  # a changed model or data: refused before any work
    threads = apply_threads(recipe)
    devices, splits, pre, spec, model = preflight(recipe)
    info(
        f"data: {len(splits.train)} train / {len(splits.selection)} selection / {len(splits.val)} val images, "
        f"{splits.num_classes} classes ({splits.source})"
    )
    try:
        run_dir = run_dir or new_run_dir(recipe)
    except OSError as exc:
        raise describe_os_error(exc, recipe.output / recipe.name, "creating the run folder in") from exc
    info(f"run folder: {run_dir}" + (f"; torch threads: {threads}" if recipe.threads.torch else ""))
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
    artifacts = []
    lock = run_lock(run_dir).acquire()  # a second writer of this run is refused here, before anything is written
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupted)
    status, error, step = "running", None, None
    try:
        _resume(run_dir, steps, recipe)
        write_manifest(run_dir, recipe, status, artifacts, [])
        for step in steps:
            result = _run_step(step, ctx, current, run_dir)
            ctx.results.append(result)
            if result.outputs:
                artifacts += result.outputs
                if current is None or current.artifact.name != result.output.name:
                    current = CurrentModel(artifact=result.output, module=None)
                if result.kind == "load" and model is not None:
                    current.module = model
            write_manifest(run_dir, recipe, status, artifacts, [r.stage for r in ctx.results])
        step = None
        report = build_report(recipe, ctx, "complete", time.perf_counter() - started)
        write_reports(report, run_dir, recipe.report.formats)
        status = "complete"
    except EdgecvError as exc:
        failure = prefixed(recipe, exc)
        status, error = "failed", str(failure)
        raise failure from exc
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted; continue with --resume"
        raise
    except Exception as exc:
        failure = _failure(exc, step, run_dir)
        status, error = "failed", str(failure)
        raise failure from exc
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        with contextlib.suppress(OSError):  # a full disk: the error above says so; the manifest keeps its state
            write_manifest(run_dir, recipe, status, artifacts, [r.stage for r in ctx.results], error)
        lock.release()
    return report


def _resume(run_dir: Path, steps: list[Step], recipe: Recipe) -> None:
    """Under the run's lock: move aside the folders of the steps that run again, and say why in one line."""
    if not (run_dir / "manifest.json").is_file():
        return
    plan = plan_resume(run_dir, steps, recipe)
    moved = apply_resume(plan)
    if plan.changed:
        info(escape(describe(plan, moved)))  # recipe values may look like console markup


def apply_threads(recipe: Recipe) -> int:
    """Set torch's CPU threads from ``threads.torch`` (default: leave torch's own); the count in effect."""
    import torch

    if recipe.threads.torch is not None:
        torch.set_num_threads(recipe.threads.torch)
    return torch.get_num_threads()


def _headline(result: StageResult, metric: Metric) -> str:
    parts = []
    if result.metrics.get(metric.key) is not None:
        parts.append(f"{metric.label} {metric.show(result.metrics[metric.key])}")
    if result.outputs and result.output.params:
        parts.append(f"{result.output.params / 1e6:.3f}M params")
    return f"({', '.join(parts)})" if parts else ""
