"""Tasks: one folder each (``edgecv/tasks/<name>/`` exposing ``TASK``), chosen by ``recipe.task``.

Example::

    from edgecv.tasks import get_task, task_names
    task_names()                       # ["classification", ...]
    get_task("classification").metric  # Metric(key="top1", label="top-1", ...)
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecv.tasks.base import Task


def task_names() -> list[str]:
    """The tasks edgecv has: every subpackage of ``edgecv.tasks``."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def get_task(name: str) -> Task:
    """The task registered as ``name``; an unknown name is a RecipeError with the known ones."""
    from edgecv.registry import unknown

    if name not in task_names():
        raise unknown(name, task_names(), "task")
    return importlib.import_module(f"{__name__}.{name}").TASK
