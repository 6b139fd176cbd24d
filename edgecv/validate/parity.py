"""Does an exported model compute what its parent computes? Judged on what the user cares about.

A comparison runs both models on the same real images and judges, in order:

1. **Top-1 agreement on the confident samples.** A sample whose reference top-2 margin is below ``min_margin``
   times the logit scale (the RMS of each sample's logits around their mean, pooled over the samples) is a near
   tie that legitimate rounding (INT8 kernels, another runtime) may flip, so it cannot count against agreement.
   Both agreements (confident samples, all samples) are reported.
2. **The task metric**: |top-1 of the candidate - top-1 of the reference| on the labelled images, in points
   (``max_top1_diff``; one image is 100/N points).
3. Optional diagnostics with thresholds: ``min_cosine`` (lowest per-sample cosine) and ``max_abs_diff``.

``mode: warn`` keeps the run going: a failed verdict becomes a warning in the StageResult and the report. The
outputs compared are stored beside the candidate (``<artifact>.parity.npz``), so a verdict can be re-judged
with other tolerances without redoing the work (:func:`rejudge`, used on ``--resume``). Like Polygraphy's
comparisons, the result is pass/fail and its reason names the criterion with the numbers.

Example::

    result = compare_outputs(torch_logits, onnx_logits, tolerance, labels=targets)
    result.passed, result.reason   # (False, "top-1 agreement 0.9000 < 0.95 on 40 of 64 confident samples ...")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from edgecv.artifacts import atomic_save
from edgecv.stages.params import StrictModel

CRITERIA = ("mode", "min_margin", "min_top1_agreement", "max_top1_diff", "min_cosine", "max_abs_diff")
"""The tolerance fields a verdict depends on (``samples`` decides what is compared, so it is not one)."""


class ParityCriteria(StrictModel):
    """What a comparison must meet; the defaults are those of an FP32 export (``export.parity``)."""

    mode: Literal["fail", "warn"] = Field("fail", description="fail: stop the run; warn: a warning, the run goes on")
    min_margin: float = Field(
        0.01, ge=0, description="A sample counts in top-1 agreement only when the reference's top-2 margin is at "
        "least this fraction of the logit scale (near ties may flip legitimately)",
    )
    min_top1_agreement: float = Field(1.0, gt=0, le=1, description="Of the confident samples (see min_margin)")
    max_top1_diff: float | None = Field(
        1.0, ge=0, description="Largest |top-1 difference| in points between candidate and reference on the "
        "compared images (one image is 100/samples points); None: not checked",
    )
    min_cosine: float | None = Field(None, gt=0, le=1, description="Lowest per-sample cosine; None: only reported")
    max_abs_diff: float | None = Field(None, gt=0, description="Largest output difference; None: only reported")


class ParityResult(BaseModel):
    """One comparison; the fields after ``reason`` were added later and default for old report.json files."""

    reference: str
    candidate: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    top1_agreement: float
    passed: bool
    reason: str
    mode: Literal["fail", "warn"] = "fail"
    failed: list[str] = Field([], description="The criteria not met")
    min_margin: float | None = None
    logit_scale: float | None = None
    confident_samples: int | None = None
    confident_top1_agreement: float | None = None
    reference_top1: float | None = None
    candidate_top1: float | None = None
    top1_diff: float | None = Field(None, description="Candidate minus reference top-1, points")
    tolerance: dict[str, Any] | None = Field(None, description="The criteria it was judged with")
    judged_by: str | None = Field(None, description="The recipe key of those criteria (export.parity, ...)")
    comparison: str | None = Field(None, description="The stored outputs, a file in the stage's folder")

    @property
    def warned(self) -> bool:
        """Failed in warn-only mode: the run went on."""
        return not self.passed and self.mode == "warn"

    @property
    def verdict(self) -> str:
        """``pass``, ``WARN: ...`` or ``FAIL: ...`` for tables."""
        return "pass" if self.passed else f"{'WARN' if self.mode == 'warn' else 'FAIL'}: {self.reason}"


def criteria_of(tolerance: object) -> dict[str, Any]:
    """The verdict-deciding fields of ``tolerance`` (absent ones left out)."""
    return {name: getattr(tolerance, name) for name in CRITERIA if hasattr(tolerance, name)}


def _statistics(ref: np.ndarray, cand: np.ndarray, labels: np.ndarray | None, min_margin: float) -> dict[str, Any]:
    """Every number a verdict is judged on."""
    diff = np.abs(ref - cand)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cosine = np.where(norms > 0, (ref * cand).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    same = ref.argmax(axis=1) == cand.argmax(axis=1)
    centred = ref - ref.mean(axis=1, keepdims=True)
    scale = float(np.sqrt((centred**2).mean())) if ref.size else 0.0
    if ref.shape[1] > 1:
        top2 = np.sort(ref, axis=1)[:, -2:]
        confident = (top2[:, 1] - top2[:, 0]) >= min_margin * scale if scale > 0 else np.zeros(len(ref), bool)
    else:
        confident = np.ones(len(ref), bool)
    stats: dict[str, Any] = {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "min_cosine": float(cosine.min()) if len(cosine) else 1.0,
        "top1_agreement": float(same.mean()) if len(same) else 1.0,
        "logit_scale": scale,
        "confident_samples": int(confident.sum()),
        "confident_top1_agreement": float(same[confident].mean()) if confident.any() else None,
    }
    if labels is not None and len(labels) == len(ref) and len(ref):
        stats["reference_top1"] = float((ref.argmax(axis=1) == labels).mean() * 100)
        stats["candidate_top1"] = float((cand.argmax(axis=1) == labels).mean() * 100)
        stats["top1_diff"] = stats["candidate_top1"] - stats["reference_top1"]
    return stats


def metric_diff_failure(stats: dict[str, Any], tol: dict[str, Any], samples: int, label: str) -> list[tuple[str, str]]:
    """The ``max_top1_diff`` verdict, for every task: |candidate - reference| of the task's metric (``label``: top-1,
    mAP, mIoU) on the compared labelled images, from ``stats``' ``reference_top1``/``candidate_top1``/``top1_diff``;
    ``[]`` when met or not measured."""
    limit, delta = tol.get("max_top1_diff"), stats.get("top1_diff")
    if limit is None or delta is None or abs(delta) <= limit + 1e-9:
        return []
    return [("max_top1_diff", f"{label} {stats['candidate_top1']:.2f}% vs reference {stats['reference_top1']:.2f}%: "
             f"|diff| {abs(delta):.2f} > {limit:g} points on {samples} labelled images")]


def _failures(stats: dict[str, Any], tol: dict[str, Any], samples: int) -> list[tuple[str, str]]:
    """(criterion, reason with the numbers) for every criterion ``stats`` does not meet."""
    out = []
    agree, need = stats["confident_top1_agreement"], tol.get("min_top1_agreement")
    if need is not None and agree is not None and agree < need:
        out.append(("min_top1_agreement", (
            f"top-1 agreement {agree:.4f} < {need} on {stats['confident_samples']} of {samples} samples with a "
            f"top-2 margin >= {tol.get('min_margin', 0):g}x the logit scale {stats['logit_scale']:.3g} "
            f"(all samples: {stats['top1_agreement']:.4f})"
        )))
    out += metric_diff_failure(stats, tol, samples, "top-1")
    limit = tol.get("min_cosine")
    if limit is not None and stats["min_cosine"] < limit:
        out.append(("min_cosine", f"min cosine {stats['min_cosine']:.6f} < {limit}"))
    limit = tol.get("max_abs_diff")
    if limit is not None and stats["max_abs_diff"] > limit:
        out.append(("max_abs_diff", f"max |diff| {stats['max_abs_diff']:.2e} > {limit:.0e}"))
    return out


def _passing_reason(stats: dict[str, Any], samples: int) -> str:
    agree = stats["confident_top1_agreement"]
    parts = [f"agreement {agree:.4f} on {stats['confident_samples']}/{samples} confident samples" if agree is not None
             else f"no sample has a clear top-2 margin (agreement on all {samples}: {stats['top1_agreement']:.4f})"]
    if stats.get("top1_diff") is not None:
        parts.append(f"top-1 diff {stats['top1_diff']:+.2f} pt")
    return f"within tolerance ({', '.join(parts)})"


def compare_outputs(
    reference: np.ndarray, candidate: np.ndarray, tolerance: object,
    names: tuple[str, str] = ("reference", "candidate"), labels: np.ndarray | None = None, *,
    judged_by: str | None = None, comparison: str | None = None,
) -> ParityResult:
    """Compare two ``(N, C)`` output arrays (and their top-1 on ``labels``) against ``tolerance``'s criteria."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    tol = criteria_of(tolerance)
    stats = _statistics(ref, cand, None if labels is None else np.asarray(labels), float(tol.get("min_margin", 0.0)))
    failures = _failures(stats, tol, len(ref))
    return ParityResult(
        reference=names[0], candidate=names[1], samples=len(ref), passed=not failures,
        reason="; ".join(why for _, why in failures) if failures else _passing_reason(stats, len(ref)),
        mode=tol.get("mode", "fail"), failed=[name for name, _ in failures], min_margin=tol.get("min_margin"),
        tolerance=tol, judged_by=judged_by, comparison=comparison, **stats,
    )


def save_comparison(path: Path, reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None) -> None:
    """Store the compared outputs (and labels) so the verdict can be re-judged without the models."""
    arrays = {"reference": np.asarray(reference), "candidate": np.asarray(candidate)}
    if labels is not None:
        arrays["labels"] = np.asarray(labels)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: savez would add ".npz" to the temporary name
            np.savez_compressed(fh, **arrays)

    atomic_save(path, save)


def rejudge(result: ParityResult, folder: Path, tolerance: object) -> ParityResult:
    """The verdict of a stored comparison under ``tolerance``: from its stored outputs, or, for a task's own
    comparison (outputs not stored: a detector's or segmenter's are large), from its stored statistics."""
    if criteria_of(tolerance) == result.tolerance:
        return result
    if result.comparison is None:
        return rejudge_statistics(result, tolerance)
    path = folder / result.comparison
    if not path.is_file():
        return result
    with np.load(path, allow_pickle=False) as stored:
        labels = stored["labels"] if "labels" in stored.files else None
        return compare_outputs(stored["reference"], stored["candidate"], tolerance, (result.reference,
                               result.candidate), labels, judged_by=result.judged_by, comparison=result.comparison)


def rejudge_statistics(result: ParityResult, tolerance: object) -> ParityResult:
    """``result`` judged again under ``tolerance`` from the numbers it holds: thresholds and mode can change; a
    changed ``min_margin`` decides which samples count, so without the outputs the result is left as it was."""
    tol = criteria_of(tolerance)
    if result.tolerance is not None and tol.get("min_margin") != result.tolerance.get("min_margin"):
        return result
    stats = result.model_dump()
    agreement = result.confident_top1_agreement if result.confident_top1_agreement is not None \
        else result.top1_agreement
    failures: list[tuple[str, str]] = []
    if agreement < tol.get("min_top1_agreement", 1.0):
        failures.append(("min_top1_agreement", f"agreement {agreement:.4f} < {tol['min_top1_agreement']}"))
    failures += metric_diff_failure(stats, tol, result.samples, "metric")
    if tol.get("min_cosine") is not None and result.min_cosine < tol["min_cosine"]:
        failures.append(("min_cosine", f"min cosine {result.min_cosine:.6f} < {tol['min_cosine']}"))
    if tol.get("max_abs_diff") is not None and result.max_abs_diff > tol["max_abs_diff"]:
        failures.append(("max_abs_diff", f"max |diff| {result.max_abs_diff:.2e} > {tol['max_abs_diff']:.0e}"))
    delta = f", metric diff {result.top1_diff:+.3f} pt" if result.top1_diff is not None else ""
    reason = "; ".join(why for _, why in failures) if failures else \
        f"within tolerance (agreement {agreement:.4f}{delta}; judged again from the stored statistics)"
    return result.model_copy(update={"passed": not failures, "reason": reason, "failed": [f for f, _ in failures],
                                     "mode": tol.get("mode", "fail"), "tolerance": tol})


WARNING_PREFIX = "parity (warn-only): "
"""Starts the StageResult warning of a comparison that failed in ``mode: warn``."""


def tolerance_at(recipe: Any, key: str) -> object | None:
    """The criteria at recipe key ``key`` (``export.parity``, ``stages[2].parity``); None when it is gone."""
    node: Any = recipe
    for part in key.split("."):
        name, _, index = part.partition("[")
        node = getattr(node, name, None)
        if index and isinstance(node, list):
            position = int(index.rstrip("]"))
            node = node[position] if position < len(node) else None
        if node is None:
            return None
    return node


def rejudge_stage(result: Any, recipe: Any, run_dir: Path) -> list[str]:
    """Re-judge a reused StageResult's stored comparisons with the recipe's criteria now; the candidates whose
    verdict was judged again (the result's metrics and warnings are updated in place)."""
    folder, updated, changed = run_dir / result.stage, [], []
    for stored in result.metrics.get("parity", []):
        before = ParityResult.model_validate(stored)
        tolerance = tolerance_at(recipe, before.judged_by) if before.judged_by else None
        after = before if tolerance is None else rejudge(before, folder, tolerance)
        if after is not before:
            changed.append(after.candidate)
        updated.append(after.model_dump())
    if changed:
        result.metrics["parity"] = updated
        by_candidate = {p["candidate"]: p for p in updated}
        for scheme in result.metrics.get("schemes", []):  # the quantize stage keeps each scheme's copy too
            if isinstance(scheme, dict) and isinstance(scheme.get("parity"), dict):
                scheme["parity"] = by_candidate.get(scheme["parity"].get("candidate"), scheme["parity"])
        note_verdicts(result)
    return changed


def note_verdicts(result: Any) -> None:
    """Make every warn-mode failure of ``result`` one warning (replacing those of an earlier verdict)."""
    from edgecv.console import warn

    result.warnings = [w for w in result.warnings if not w.startswith(WARNING_PREFIX)]
    for stored in result.metrics.get("parity", []):
        parity = ParityResult.model_validate(stored)
        if parity.warned:
            message = f"{WARNING_PREFIX}{parity.candidate} vs {parity.reference}: {parity.reason}"
            result.warnings.append(message)
            warn(message)


def failed_verdicts(result: Any) -> list[str]:
    """One message per fail-mode comparison of ``result`` that failed, naming the criterion and the fix."""
    messages = []
    for stored in result.metrics.get("parity", []):
        p = ParityResult.model_validate(stored)
        if not p.passed and p.mode == "fail":
            key = p.judged_by or "the parity tolerance"
            messages.append(
                f"{p.candidate} differs from {p.reference} ({p.reason}); if that is expected, loosen {key} or set "
                f"{key}.mode: warn and continue with --resume (the stored comparison is judged again, the stage "
                f"is not redone{'' if p.comparison else '; min_margin needs a new run: its outputs were not stored'})"
            )
    return messages
