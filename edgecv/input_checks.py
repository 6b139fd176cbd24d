"""Checks on a recipe's inputs that need the file system, done in preflight before any work starts.

- the ``output:`` folder can be written (not a file, not under a file, not read-only): checked with a probe file;
- values that cannot work are refused (an input smaller than the model accepts), absurd ones get a warning;
- :func:`describe_os_error` turns a disk-full / read-only / permission OSError into one line naming the fix.

Example::

    check_inputs(recipe)                      # raises RecipeError, or returns the warnings it printed
    raise describe_os_error(exc, path) from exc
"""

from __future__ import annotations

import errno
from pathlib import Path

from edgecv.console import warn
from edgecv.errors import EdgecvError, RecipeError
from edgecv.recipe import MIN_INPUT_SIZE, Recipe

MANY_EPOCHS = 1000
LARGE_INPUT = 1024
_PROBE = ".edgecv-write-probe"


def describe_os_error(exc: OSError, path: str | Path | None = None, doing: str = "writing") -> EdgecvError:
    """One line for an OSError while ``doing`` ``path``: what happened and what to do.

    ``doing`` is a phrase such as ``"writing"`` or ``"creating the run folder in"``.
    """
    where = path if path is not None else exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return EdgecvError(f"{what} while {doing} {where}; free space or set output: elsewhere, then --resume")
    if exc.errno == errno.EROFS:
        return EdgecvError(f"{where} is on a read-only file system; set output: to a writable folder")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return EdgecvError(
            f"permission denied while {doing} {where}; fix the folder's permissions or set output: elsewhere"
        )
    return EdgecvError(f"{exc.strerror or exc} while {doing} {where}; fix that or set output: elsewhere")


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_writable(recipe: Recipe) -> None:
    """Refuse an ``output:`` (or ``<output>/<name>``) that is a file, lies under a file, or cannot be written.

    Folders it has to create for the probe are removed again, so a check (``edgecv validate``) leaves nothing.
    """
    target = Path(recipe.output) / recipe.name
    existing = _first_existing(target)
    if not existing.is_dir():
        problem = f"{existing} is a file"
        if existing not in (target, target.parent):
            problem = f"{recipe.output} is under the file {existing}"
        raise RecipeError(
            f"key 'output': {problem}, not a folder; set output: to a folder (runs go to <output>/<name>/)",
            field="output",
        )
    created = [p for p in [target, *target.parents] if not p.exists()]
    probe = target / _PROBE
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"edgecv")
        probe.unlink()
    except OSError as exc:
        error = describe_os_error(exc, target, "creating the run folder in")
        raise RecipeError(f"key 'output': {error}", field="output") from exc
    finally:
        if probe.exists():
            probe.unlink()
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break


def check_values(recipe: Recipe) -> list[str]:
    """Refuse values that cannot work; warn about (and return) the ones that are merely absurd."""
    from edgecv.models import model_defaults

    hw = recipe.model.input_hw
    size = None if hw is None else min(hw)
    entry = model_defaults(recipe)
    least = max(MIN_INPUT_SIZE, int(getattr(entry, "min_input_size", 0) or 0))
    if size is not None and size < least:
        raise RecipeError(
            f"key 'model.input_size': {recipe.model.label} needs an input of at least {least}x{least}, not "
            f"{size}x{size}; raise it (its default is {entry.input_size[0] if entry else 224})",
            field="model.input_size",
        )
    notes = []
    if recipe.train.epochs > MANY_EPOCHS:
        notes.append(f"train.epochs is {recipe.train.epochs}: that is a very long training; is it meant?")
    if hw is not None and max(hw) > LARGE_INPUT:
        notes.append(f"model.input_size is {max(hw)}: inputs above {LARGE_INPUT} px are slow and memory-hungry on "
                     "Jetson")
    for note in notes:
        warn(note)
    return notes


def check_inputs(recipe: Recipe) -> list[str]:
    """Every check of this module (output folder, values); returns the warnings printed."""
    check_output_writable(recipe)
    return check_values(recipe)

