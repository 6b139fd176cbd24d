"""The run folder ``<output>/<name>/<run-id>/`` and its manifest.json (what ran, on what, which files)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgecv.artifacts import ModelArtifact, atomic_write_json
from edgecv.environment import environment
from edgecv.errors import RecipeError
from edgecv.recipe import Recipe


def new_run_dir(recipe: Recipe) -> Path:
    """A fresh run folder named by the time and the recipe hash, e.g. ``runs/quickstart/20261124-101500-3fa2c1``."""
    parent = recipe.output / recipe.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        candidate = parent / f"{stamp}-{recipe.digest()[:6]}{suffix}"
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise RecipeError(f"cannot create a run folder under {parent}")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def latest_run_dir(recipe: Recipe) -> Path:
    """The newest run of this recipe's name, for ``--resume``; it must have been made by the same recipe."""
    parent = recipe.output / recipe.name
    runs = sorted((p for p in parent.glob("*") if (p / "manifest.json").is_file()), key=lambda p: p.name)
    if not runs:
        raise RecipeError(f"--resume: no earlier run of '{recipe.name}' under {parent}; run without --resume")
    run = runs[-1]
    recorded = read_manifest(run).get("recipe_hash")
    if recorded != recipe.digest():
        raise RecipeError(
            f"--resume: {run} was made by a different recipe (hash {str(recorded)[:12]} vs {recipe.digest()[:12]}); "
            "undo the recipe change or start a new run without --resume"
        )
    return run


def write_manifest(
    run_dir: Path,
    recipe: Recipe,
    status: str,
    artifacts: list[ModelArtifact],
    stages: list[str],
    error: str | None = None,
) -> None:
    """(Re)write manifest.json atomically: recipe hash, versions, machine, artifacts with sha256, status."""
    previous = read_manifest(run_dir)
    atomic_write_json(
        run_dir / "manifest.json",
        {
            "recipe_name": recipe.name,
            "recipe_hash": recipe.digest(),
            "recipe_source": str(recipe.source) if recipe.source else None,
            "created": previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": status,
            "error": error,
            "finished_stages": stages,
            "environment": environment().model_dump(),
            "artifacts": [
                {
                    "name": a.name,
                    "format": a.format,
                    "path": _relative(a.path, run_dir),
                    "sha256": a.sha256,
                    "size_bytes": a.size_bytes,
                }
                for a in artifacts
            ],
        },
    )


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path
