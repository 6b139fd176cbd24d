"""Where edgecv talks to a person: one rich console on stderr, with quiet and verbose levels."""

from __future__ import annotations

import sys

from rich.console import Console

# progress goes to stderr, results (tables) to stdout; off a terminal, wide enough for the tables not to wrap
console = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)
results = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
_level = {"value": 1}  # 0 quiet, 1 normal, 2 verbose


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    """0 prints only errors, 1 a line per stage and epoch, 2 adds details."""
    _level["value"] = 0 if quiet else 2 if verbose else 1


def verbosity() -> int:
    """The level in effect: 0 quiet, 1 normal, 2 verbose."""
    return _level["value"]


def info(message: str) -> None:
    """A progress line (stage started or finished, an epoch's numbers)."""
    if _level["value"] >= 1:
        console.print(message)


def detail(message: str) -> None:
    """A line only shown with --verbose."""
    if _level["value"] >= 2:
        console.print(f"[dim]{message}[/dim]")


def warn(message: str) -> None:
    """A warning the user should see even when it does not stop the run."""
    if _level["value"] >= 1:
        console.print(f"[yellow]warning:[/yellow] {message}")
