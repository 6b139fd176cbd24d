"""Does an exported model compute what its parent computes? Max abs difference, cosine, top-1 agreement.

Like Polygraphy's comparisons, the result is pass/fail and says why.

Example::

    result = compare_outputs(torch_logits, onnx_logits, tolerance)
    result.passed, result.reason     # (False, "max |diff| 3.1e-03 > 1e-04")
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel


class ParityResult(BaseModel):
    reference: str
    candidate: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    top1_agreement: float
    passed: bool
    reason: str


def compare_outputs(
    reference: np.ndarray, candidate: np.ndarray, tolerance: object, names: tuple[str, str] = ("reference", "candidate")
) -> ParityResult:
    """Compare two ``(N, C)`` output arrays against a tolerance with max_abs_diff, min_cosine, min_top1_agreement."""
    ref = reference.astype(np.float64).reshape(len(reference), -1)
    cand = candidate.astype(np.float64).reshape(len(candidate), -1)
    diff = np.abs(ref - cand)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cosine = np.where(norms > 0, (ref * cand).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    agreement = float((ref.argmax(axis=1) == cand.argmax(axis=1)).mean())
    failures = []
    limit_abs = getattr(tolerance, "max_abs_diff", None)
    if limit_abs is not None and diff.max() > limit_abs:
        failures.append(f"max |diff| {diff.max():.2e} > {limit_abs:.0e}")
    limit_cos = getattr(tolerance, "min_cosine", None)
    if limit_cos is not None and cosine.min() < limit_cos:
        failures.append(f"min cosine {cosine.min():.6f} < {limit_cos}")
    limit_agree = getattr(tolerance, "min_top1_agreement", None)
    if limit_agree is not None and agreement < limit_agree:
        failures.append(f"top-1 agreement {agreement:.4f} < {limit_agree}")
    return ParityResult(
        reference=names[0],
        candidate=names[1],
        samples=len(ref),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        min_cosine=float(cosine.min()),
        top1_agreement=agreement,
        passed=not failures,
        reason="; ".join(failures) if failures else "within tolerance",
    )
