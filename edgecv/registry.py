"""Name -> implementation tables, imported lazily so that a recipe validates without loading heavy libraries.

Adding a stage is one file in ``edgecv/stages/`` and one line in ``STAGES``.

Example::

    stage_class("finetune")        # -> edgecv.stages.train.FinetuneStage
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from edgecv.errors import RecipeError

STAGES: dict[str, str] = {
    "load": "edgecv.stages.load:LoadStage",
    "train": "edgecv.stages.train:TrainStage",
    "finetune": "edgecv.stages.train:FinetuneStage",
    "prune": "edgecv.stages.prune:PruneStage",
    "distill": "edgecv.stages.distill:DistillStage",
    "quantize": "edgecv.stages.quantize:QuantizeStage",
    "export-onnx": "edgecv.stages.export:ExportOnnxStage",
    "validate": "edgecv.stages.validate:ValidateStage",
    "deploy": "edgecv.stages.deploy:DeployStage",
}


def resolve(table: dict[str, str], name: str, what: str) -> Any:
    """Import and return the object registered under ``name``; unknown names get a did-you-mean."""
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RecipeError(f"unknown {what} '{name}': {hint}known: {', '.join(sorted(table))}")
    module_name, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def stage_class(kind: str) -> Any:
    """The Stage subclass registered for ``kind``."""
    return resolve(STAGES, kind, "stage type")
