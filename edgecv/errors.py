"""The error hierarchy: every error a user can fix is an EdgecvError whose message says what to do.

The CLI prints an EdgecvError as one line on stderr and exits with status 2; anything else is a bug.
"""

from __future__ import annotations


class EdgecvError(Exception):
    """An error the user can fix; the message names the file, the field and the fix."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        """The recipe key the error is about (``model.checkpoint``), when the raiser knows it."""


class RecipeError(EdgecvError):
    """The recipe (or an override) is malformed or asks for something invalid."""


class DataError(EdgecvError):
    """A dataset is missing, empty or unreadable."""


class ModelError(EdgecvError):
    """A model name, checkpoint or factory cannot be used."""


class UnsupportedError(EdgecvError):
    """The combination asked for is not supported (e.g. a precision a device cannot run)."""


class MissingDependencyError(EdgecvError):
    """An optional dependency is not installed; the message says what to install."""


class ValidationFailure(EdgecvError):
    """A check on a produced artifact failed (parity beyond tolerance, a budget missed when gating)."""


class StageFailure(EdgecvError):
    """A stage failed on something edgecv did not foresee; the traceback is in the run folder's error.log.

    Exit status 1: not bad input (2) but a failure worth a bug report when the message does not explain it.
    """

    exit_code = 1


class PeerLost(StageFailure):
    """This rank of a multi-process run lost contact with another rank, which failed first or was stopped: a
    consequence, not the cause, so the launcher names another failed rank when there is one."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h)
