"""Name -> implementation lookups with "did you mean", for stages and other registered parts.

Stages register themselves (``@register_stage`` in their own file, see :mod:`edgecv.stages.contract`): adding a
stage is adding one file to ``edgecv/stages/``.

Example::

    stage_class("finetune")        # -> edgecv.stages.train.FinetuneStage
"""

from __future__ import annotations

import difflib
from typing import Any

from edgecv.errors import RecipeError


def unknown(name: str, known: list[str], what: str) -> RecipeError:
    """The error for a name that is not registered."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return RecipeError(f"unknown {what} '{name}': {hint}known: {', '.join(sorted(known))}")


def stage_class(kind: str) -> Any:
    """The Stage subclass registered for ``kind``."""
    from edgecv.stages.contract import registered

    stages = registered()
    if kind not in stages:
        raise unknown(kind, list(stages), "stage type")
    return stages[kind]
