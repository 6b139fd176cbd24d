"""Assemble the Report from a run's stage results, and write report.json (+ markdown, HTML) atomically."""

from __future__ import annotations

import time
from pathlib import Path

from edgecv import __version__
from edgecv.artifacts import atomic_write_text
from edgecv.environment import environment
from edgecv.recipe import Recipe
from edgecv.report.schema import Report, Validation
from edgecv.stages.base import RunContext
from edgecv.validate.parity import ParityResult


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
        data={"source": ctx.splits.source, "train_images": len(ctx.splits.train), "val_images": len(ctx.splits.val)},
        stages=ctx.results,
        artifacts=artifacts,
        parity=parity,
        validations=validations,
        total_seconds=round(sum(r.seconds for r in ctx.results), 2),
    )


def write_reports(report: Report, run_dir: Path, formats: list[str]) -> list[Path]:
    """Write report.json always (it is canonical), then the other formats rendered from it."""
    from edgecv.report.markdown import render_markdown

    written = [run_dir / "report.json"]
    atomic_write_text(written[0], report.model_dump_json(indent=2) + "\n")
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
    """Read a run's report.json back."""
    return Report.model_validate_json((run_dir / "report.json").read_text())
