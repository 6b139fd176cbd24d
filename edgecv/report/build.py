"""Assemble the Report from a run's stage results, and write report.json (+ markdown, HTML) atomically."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import ValidationError

from edgecv import __version__
from edgecv.artifacts import atomic_write_text
from edgecv.environment import environment
from edgecv.errors import RecipeError
from edgecv.recipe import Recipe
from edgecv.report.schema import Report, Validation
from edgecv.stages.base import RunContext
from edgecv.validate.parity import ParityResult

DECISIONS = (
    "the best epoch of every training stage, accuracy control's range estimator and layers kept in float (and "
    "calibration when the "
    "recipe has no train data) were chosen on the selection split; the val split is used only for the numbers "
    "reported"
)


def data_summary(recipe: Recipe, ctx: RunContext) -> dict[str, object]:
    """The report's data section: the splits, which images made the decisions, and the seeds."""
    splits = ctx.splits
    return {
        "source": splits.source,
        "train_images": len(splits.train),
        "selection_images": len(splits.selection),
        "val_images": len(splits.val),
        "selection": splits.selection_source,
        "decisions": DECISIONS,
        "seeds": {"recipe": recipe.seed, "data": recipe.data.seed, "train": recipe.train.seed},
    }


def build_report(recipe: Recipe, ctx: RunContext, status: str, seconds: float) -> Report:
    """The run's report, from its StageResults only (so a resumed run reports the same way)."""
    artifacts = [a for r in ctx.results for a in r.outputs]
    parity = [ParityResult.model_validate(p) for r in ctx.results for p in r.metrics.get("parity", [])]
    validations = [Validation.model_validate(v) for r in ctx.results for v in r.metrics.get("validations", [])]
    return Report(
        edgecv_version=__version__,
        name=recipe.name,
        run_dir=str(ctx.run_dir),
        status=status,  # type: ignore[arg-type]
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        recipe_hash=recipe.digest(),
        recipe=recipe.to_dict(),
        environment=environment(),
        labels=ctx.splits.labels,
        data=data_summary(recipe, ctx),
        stages=ctx.results,
        artifacts=artifacts,
        parity=parity,
        validations=validations,
        total_seconds=round(sum(r.seconds for r in ctx.results), 2),
    )


def write_reports(report: Report, run_dir: Path, formats: list[str]) -> list[Path]:
    """Write report.json always (it is canonical), then the other formats rendered from it."""
    from edgecv.report.markdown import render_markdown
    from edgecv.run_paths import relative_to_run

    written = [run_dir / "report.json"]
    atomic_write_text(written[0], relative_to_run(report, run_dir).model_dump_json(indent=2) + "\n")
    if "md" in formats:
        written.append(run_dir / "report.md")
        atomic_write_text(written[-1], render_markdown(report))
    if "html" in formats:
        try:
            from edgecv.report.html import render_html
        except ImportError:
            return written
        written.append(run_dir / "report.html")
        atomic_write_text(written[-1], render_html(report))
    return written


def load_report(run_dir: Path) -> Report:
    """Read a run's report.json back; a missing, truncated or invalid one is a RecipeError in one line."""
    path = Path(run_dir) / "report.json"
    fix = "re-run the recipe or restore report.json"
    try:
        report = Report.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read it ({exc.strerror or exc}); {fix}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            problem = f"not valid JSON ({err['msg'].removeprefix('Invalid JSON: ')}; truncated?)"
        else:
            key = ".".join(str(part) for part in err["loc"]) or "(top level)"
            problem = f"not an edgecv report (field '{key}': {err['msg']})"
        raise RecipeError(f"{path}: {problem}; {fix}") from exc
    from edgecv.run_paths import absolute_in_run

    return absolute_in_run(report, Path(run_dir)).model_copy(update={"run_dir": str(Path(run_dir))})
