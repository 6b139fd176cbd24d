"""The Python API behind every CLI verb; usable without the CLI.

Example::

    from edgecv import api
    report = api.compress("recipes/quickstart.yaml", overrides=["train.epochs=3"])
    api.plan_recipe("recipes/cifar10-resnet20.yaml")     # validate without running
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgecv.recipe import Recipe, load_recipe
from edgecv.report.schema import Report


def compress(
    recipe: str | Path | Recipe,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    resume: bool = False,
    run_dir: Path | None = None,
) -> Report:
    """Run a recipe end to end (or resume its latest run) and return the report.

    In a process torchrun started for several processes, use :func:`edgecv.launch.compress_ranked` (what
    ``torchrun -m edgecv compress`` runs): it returns rank 0's report and None on the other ranks."""
    from edgecv import distributed
    from edgecv.errors import UnsupportedError
    from edgecv.pipeline import run_pipeline

    if distributed.requested():
        raise UnsupportedError("api.compress runs one process; under torchrun call edgecv.launch.compress_ranked "
                               "(rank 0 runs the pipeline, the others train with it)")

    loaded = recipe if isinstance(recipe, Recipe) else load_recipe(recipe, overrides)
    return run_pipeline(loaded, resume=resume, run_dir=run_dir)


def plan_recipe(recipe: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate a recipe fully (schema, devices, data, model and checkpoint) and return the resolved plan."""
    from edgecv.pipeline import plan
    from edgecv.preflight import preflight

    loaded = load_recipe(recipe, overrides)
    devices, splits, pre, spec, model = preflight(loaded)
    return {
        "recipe": str(loaded.source),
        "recipe_hash": loaded.digest(),
        "run_folder": str(loaded.output / loaded.name / "<run-id>"),
        "stages": [f"{name} ({stage.kind})" for name, stage in plan(loaded)],
        "devices": [d.name for d in devices],
        "data": {
            "source": splits.source,
            "train_images": len(splits.train),
            "val_images": len(splits.val),
            "classes": splits.num_classes,
        },
        "input": {"shape": list(spec.shape), "mean": list(pre.mean), "std": list(pre.std)},
        "model": {"arch": loaded.model.arch, "params": sum(p.numel() for p in model.parameters()) if model else None},
        "resolved": loaded.to_dict(),
    }


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a recipe (``recipe``) or of report.json (``report``)."""
    from edgecv.errors import RecipeError

    if kind == "recipe":
        return Recipe.model_json_schema(by_alias=True)
    if kind == "report":
        return Report.model_json_schema()
    raise RecipeError(f"unknown schema '{kind}': use 'recipe' or 'report'")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
