"""The run folder ``<output>/<name>/<run-id>/``, its manifest.json (what ran, on what, which files) and its lock.

One process writes a run at a time: :class:`RunLock` holds ``<run>/.lock`` (pid, host, start time) while the
pipeline runs, so a second ``--resume`` of the same run is refused instead of redoing the same stages. A lock left
by a killed process (same host, pid gone) is taken over; a manifest that still says "running" without a live lock
reads as :data:`KILLED`.

Example::

    with run_lock(run_dir):
        ...                                   # stages write into run_dir
    manifest_status(run_dir)                  # "complete", "failed", ... or KILLED
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from edgecv.artifacts import ModelArtifact, atomic_write_json
from edgecv.console import info
from edgecv.environment import environment
from edgecv.errors import RecipeError
from edgecv.recipe import Recipe

LOCK_NAME = ".lock"
KILLED = "interrupted (the process was killed)"
_TAKEOVER_SECONDS = 60


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def read_lock(run_dir: Path) -> dict[str, Any] | None:
    """The lock's holder (pid, host, started), ``{}`` when the lock file is unreadable, None when there is none."""
    try:
        holder = json.loads((run_dir / LOCK_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def lock_is_stale(holder: dict[str, Any]) -> bool:
    """Whether a lock's holder is gone: same host and its pid no longer runs (another host's lock is never stale)."""
    pid = holder.get("pid")
    return holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid)


class RunLock:
    """``<run>/.lock`` held while a process writes the run; use ``with run_lock(run_dir):`` or acquire/release."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.holder: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock, or take over a stale one; a live holder is a RecipeError in one line."""
        for _ in range(3):
            if self._create():
                return self
            holder = read_lock(self.run_dir)
            if holder is None:
                continue  # released meanwhile
            if not holder and time.time() - self._mtime() < _TAKEOVER_SECONDS:
                holder = {"pid": "?", "host": "?", "started": "just now"}  # being written by its creator
            elif not holder or lock_is_stale(holder):
                self._take_over(holder)
                continue
            raise RecipeError(
                f"run {self.run_dir} is being written by pid {holder.get('pid')} on host {holder.get('host')} "
                f"since {holder.get('started')}; wait for it to finish, or delete {self.path} if that process is gone"
            )
        raise RecipeError(f"run {self.run_dir}: cannot take its lock {self.path}; try again")

    def release(self) -> None:
        """Remove the lock if this process still holds it."""
        if self.held and read_lock(self.run_dir) == self.holder:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(self.holder, fh)
        self.held = True
        return True

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _take_over(self, stale: dict[str, Any]) -> None:
        """Remove a stale lock; a side lock makes sure two takers do not remove each other's fresh lock."""
        side = self.path.with_name(LOCK_NAME + ".takeover")
        try:
            fd = os.open(side, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if time.time() - side.stat().st_mtime > _TAKEOVER_SECONDS:
                side.unlink(missing_ok=True)  # left by a taker that died
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            if read_lock(self.run_dir) == stale:
                self.path.unlink(missing_ok=True)
                info(f"run {self.run_dir}: taking over the lock of pid {stale.get('pid')} (no longer running)")
        finally:
            side.unlink(missing_ok=True)


def run_lock(run_dir: Path) -> RunLock:
    """The run folder's lock, as a context manager (see :class:`RunLock`)."""
    return RunLock(run_dir)


def manifest_status(run_dir: Path, manifest: dict[str, Any] | None = None) -> str | None:
    """The run's status as recorded, except that "running" without a live lock (the process was killed) reads as
    :data:`KILLED`."""
    manifest = read_manifest(run_dir) if manifest is None else manifest
    status = manifest.get("status")
    if status == "running":
        holder = read_lock(run_dir)
        if holder is None or (holder and lock_is_stale(holder)):
            return KILLED
    return status


def latest_run_dir(recipe: Recipe) -> Path:
    """The newest run of this recipe's name, for ``--resume``; whether its stages can be reused is decided per
    stage (:mod:`edgecv.resume`), not by the recipe hash."""
    parent = recipe.output / recipe.name
    runs = sorted((p for p in parent.glob("*") if (p / "manifest.json").is_file()), key=lambda p: p.name)
    if not runs:
        raise RecipeError(f"--resume: no earlier run of '{recipe.name}' under {parent}; run without --resume")
    run = runs[-1]
    if manifest_status(run) == KILLED:
        info(f"resuming {run}: its last run was {KILLED}")
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
