"""Parity of an exported detector with its torch parent: every raw output by name, and the decoded detections.

Example::

    result = detection_parity(torch_outputs, onnx_outputs, recipe.export.parity, ("trained", "trained-onnx"))
    result.passed, result.reason
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecv.tasks.detection.postprocess import box_iou, postprocess
from edgecv.validate.parity import ParityResult, criteria_of


def _cosines(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    a, b = ref.reshape(len(ref), -1).astype(np.float64), cand.reshape(len(cand), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(1) / np.maximum(norms, 1e-300), 1.0)


CONFIDENT = 0.3
"""Detections scoring at least this are compared one by one; fainter ones may swap places by rounding."""


def _covered(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Every confident detection of ``a`` has one of ``b`` with its label at IoU >= 0.9 (score >= half its own)."""
    for box, score, label in zip(a["boxes"], a["scores"], a["labels"], strict=True):
        if score < CONFIDENT:
            continue
        same = (b["labels"] == label) & (b["scores"] >= score / 2)
        if not same.any() or box_iou(box, b["boxes"][same]).max() < 0.9:
            return False
    return True


def _same_detections(ref: dict[str, np.ndarray], cand: dict[str, np.ndarray], index: int) -> bool:
    a = postprocess(ref["boxes"][index], ref["scores"][index])
    b = postprocess(cand["boxes"][index], cand["scores"][index])
    return _covered(a, b) and _covered(b, a)


def detection_parity(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any, names: tuple[str, str],
    *, judged_by: str | None = None,
) -> ParityResult:
    """Max-abs and per-sample cosine of each output; the share of images with the same detections after NMS."""
    tol = criteria_of(tolerance)
    missing = sorted(set(reference) - set(candidate))
    samples = len(next(iter(reference.values())))
    diffs = {k: np.abs(reference[k].astype(np.float64) - candidate[k]) for k in reference if k in candidate}
    max_abs = max((float(d.max()) for d in diffs.values() if d.size), default=float("inf"))
    mean_abs = float(np.mean([d.mean() for d in diffs.values() if d.size])) if diffs else float("inf")
    min_cos = min((float(_cosines(reference[k], candidate[k]).min()) for k in diffs), default=0.0)
    agreement = float(np.mean([_same_detections(reference, candidate, i) for i in range(samples)])) if not missing \
        else 0.0
    failed: list[tuple[str, str]] = []
    if missing:
        failed.append(("outputs", f"outputs {', '.join(missing)} missing from {names[1]}"))
    if tol.get("min_cosine") is not None and min_cos < tol["min_cosine"]:
        failed.append(("min_cosine", f"lowest cosine {min_cos:.6f} < {tol['min_cosine']} over {samples} images"))
    if tol.get("max_abs_diff") is not None and max_abs > tol["max_abs_diff"]:
        failed.append(("max_abs_diff", f"largest output difference {max_abs:.3g} > {tol['max_abs_diff']}"))
    if agreement < tol.get("min_top1_agreement", 1.0):
        failed.append(("min_top1_agreement", f"same confident detections after NMS on {agreement:.4f} of "
                       f"{samples} images < {tol.get('min_top1_agreement', 1.0)}"))
    reason = "; ".join(r for _, r in failed) or (
        f"{', '.join(diffs)}: max abs diff {max_abs:.3g}, lowest cosine {min_cos:.6f}; same confident detections "
        f"after NMS on {agreement:.4f} of {samples} images")
    return ParityResult(
        reference=names[0], candidate=names[1], samples=samples, max_abs_diff=max_abs, mean_abs_diff=mean_abs,
        min_cosine=min_cos, top1_agreement=agreement, passed=not failed, reason=reason, mode=tol.get("mode", "fail"),
        failed=[f for f, _ in failed], tolerance=tol, judged_by=judged_by,
    )
