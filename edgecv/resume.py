"""``--resume`` with per-stage fingerprints: reuse every finished stage whose inputs did not change.

Each step's fingerprint (:func:`edgecv.plan.plan_steps`) digests the recipe settings it depends on and the
fingerprint of the step before it; the pipeline records it in the step's ``started.json`` when the step begins
and in its ``stage.json`` when it finishes. On resume, the finished steps whose recorded fingerprint matches are
reused; the first one that differs (or never finished) and every later one run again, their old folders moved
to ``<run>/superseded/<time>/`` (nothing is deleted). An unfinished step whose fingerprint matches keeps its
folder (training continues from its last epoch). A changed load step (model, data, seed) leaves nothing
reusable: resume is refused in one line. The whole-recipe hash only names the run.

Tolerances are not in any fingerprint: a changed one re-judges the stored comparison (see
:mod:`edgecv.validate.parity`) while the stage's result is reused. A run written before fingerprints existed is
reused as before only when its recipe hash is unchanged.

Example::

    plan = plan_resume(run_dir, plan_steps(recipe), recipe)   # RecipeError when the model or data changed
    plan.reused, plan.rerun, plan.reason                      # ["00-load", "01-train"], "02-export-onnx", "..."
    apply_resume(plan)                                        # move the stale folders aside (under the lock)
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecv.errors import RecipeError
from edgecv.plan import Step
from edgecv.recipe import Recipe
from edgecv.run_dir import read_manifest

STARTED = "started.json"
FINGERPRINT = "fingerprint"
SUPERSEDED = "superseded"
REPORTS = ("report.json", "report.md", "report.html")
_STEP_FOLDER = re.compile(r"^\d{2}-")


@dataclass
class ResumePlan:
    """What a resume reuses, what it runs again and why, and which old folders it moves aside."""

    run_dir: Path
    reused: list[str] = field(default_factory=list)
    rerun: str | None = None
    reason: str = ""
    changed: bool = False
    """The recipe changed something this run had done (not a plain continuation)."""
    stale: list[Path] = field(default_factory=list)


def fingerprint_record(step: Step) -> dict[str, Any]:
    """What ``stage.json`` and ``started.json`` record of a step."""
    return {"digest": step.fingerprint, "settings": step.settings}


def read_stage_json(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A stage.json's StageResult data and its fingerprint record (None for a run written before them)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data, data.pop(FINGERPRINT, None)


def _recorded(folder: Path) -> tuple[dict[str, Any] | None, bool]:
    """The fingerprint a step folder recorded (stage.json, else started.json) and whether the step finished."""
    for name, finished in (("stage.json", True), (STARTED, False)):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                return None, finished
            record = data.get(FINGERPRINT) if isinstance(data, dict) else None
            return (record if isinstance(record, dict) else None), finished
    return None, False


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flat(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def changed_settings(old: dict[str, Any], new: dict[str, Any], limit: int = 3) -> str:
    """``export.parity.samples changed (32 -> 64)``: the settings that differ, at most ``limit`` named."""
    before, after = _flat(old), _flat(new)
    keys = [k for k in sorted(set(before) | set(after)) if before.get(k, "<unset>") != after.get(k, "<unset>")]
    parts = [f"{k} changed ({_short(before.get(k))} -> {_short(after.get(k))})" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"{len(keys) - limit} more")
    return ", ".join(parts) or "a stage before it changed"


def _mismatch(step: Step, folder: Path, record: dict[str, Any] | None, legacy_ok: bool) -> str | None:
    """Why the step's recorded work cannot be reused, or None when it can."""
    if not folder.is_dir():
        others = sorted(p.name for p in folder.parent.glob(f"{step.folder[:3]}*") if p.is_dir())
        return f"the stage list changed (the run has {others[0]} there)" if others else ""
    if record is None:
        return None if legacy_ok else "it has no fingerprint (an older edgecv wrote it) and the recipe changed"
    if record.get("digest") == step.fingerprint:
        return None
    return changed_settings(record.get("settings") or {}, step.settings)


def plan_resume(run_dir: Path, steps: list[Step], recipe: Recipe) -> ResumePlan:
    """Which steps of ``run_dir`` the recipe can reuse; RecipeError when its model or data changed."""
    plan = ResumePlan(run_dir=run_dir)
    legacy_ok = read_manifest(run_dir).get("recipe_hash") == recipe.digest()
    keep: set[str] = set()
    for index, step in enumerate(steps):
        folder = run_dir / step.folder
        record, finished = _recorded(folder)
        why = _mismatch(step, folder, record, legacy_ok)
        if why is None and finished:
            plan.reused.append(step.folder)
            continue
        plan.rerun, plan.reason, plan.changed = step.folder, why or "", bool(why)
        if why is None:
            keep.add(step.folder)  # matching unfinished work: the stage continues it
            plan.reason = "it did not finish"
        elif index == 0 and folder.is_dir():
            what = "an older edgecv without stage fingerprints, and the recipe changed" if record is None else \
                f"another model or data ({why})"
            raise RecipeError(
                f"--resume: {run_dir} was made from {what}; nothing in it can be reused: start a new run without "
                "--resume"
            )
        break
    kept = set(plan.reused) | keep
    folders = [p for p in run_dir.iterdir() if p.is_dir() and _STEP_FOLDER.match(p.name)]
    plan.stale = sorted(p for p in folders if p.name not in kept)
    if plan.stale:
        plan.changed = True
        plan.stale += [run_dir / name for name in REPORTS if (run_dir / name).is_file()]
    return plan


def apply_resume(plan: ResumePlan) -> Path | None:
    """Move the plan's stale folders (and the old reports) to ``superseded/<time>/``; that folder, if any."""
    if not plan.stale:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = plan.run_dir / SUPERSEDED / stamp
    for attempt in range(1, 100):
        if not target.exists():
            break
        target = plan.run_dir / SUPERSEDED / f"{stamp}-{attempt}"
    target.mkdir(parents=True)
    for path in plan.stale:
        os.replace(path, target / path.name)  # a rename inside the run folder: atomic, nothing copied or lost
    return target


def describe(plan: ResumePlan, moved: Path | None) -> str:
    """The one info line of a resume whose recipe changed: what is reused, what reruns and why."""
    reused = ", ".join(plan.reused) if plan.reused else "nothing"
    line = f"resuming {plan.run_dir}: reusing {reused}"
    if plan.rerun:
        line += f"; {plan.rerun} and every later stage run again ({plan.reason or 'not run yet'})"
    if moved is not None:
        which = "their old folders" if plan.rerun else "the folders of the stages no longer in the recipe"
        line += f"; {which} are in {moved.relative_to(plan.run_dir)}/"
    return line
