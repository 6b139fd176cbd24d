"""Parity of an exported detector with its torch parent: every raw output by name, and the decoded detections.

A detection is compared by object, not by pixel: the same label at IoU >= 0.5 (score at least half), so INT8's
few-pixel box jitter is not a disagreement while a lost or invented object is. With the images' boxes, the mAP of
both models on them is judged too (``max_top1_diff``, points), as classification judges its top-1 difference.

Example::

    result = detection_parity(torch_outputs, onnx_outputs, recipe.export.parity, ("trained", "trained-onnx"))
    result.passed, result.reason
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecv.deploy.detection_postprocess import box_iou, postprocess
from edgecv.tasks.detection.metrics import coco_map
from edgecv.validate.parity import ParityResult, criteria_of, metric_diff_failure


def _cosines(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    a, b = ref.reshape(len(ref), -1).astype(np.float64), cand.reshape(len(cand), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(1) / np.maximum(norms, 1e-300), 1.0)


CONFIDENT = 0.3
"""Detections scoring at least this are compared one by one; fainter ones may swap places by rounding."""
SAME_OBJECT_IOU = 0.5
"""Two detections of one label at this IoU are the same object (COCO's loosest match); the cosine criterion is
what holds an FP32 export to the same numbers."""


def _matched(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[int, int]:
    """(confident detections of ``a``, how many of them ``b`` has: same label, IoU >= 0.5, score >= half)."""
    confident = matched = 0
    for box, score, label in zip(a["boxes"], a["scores"], a["labels"], strict=True):
        if score < CONFIDENT:
            continue
        confident += 1
        same = (b["labels"] == label) & (b["scores"] >= score / 2)
        matched += int(bool(same.any()) and float(box_iou(box, b["boxes"][same]).max()) >= SAME_OBJECT_IOU)
    return confident, matched


def _decoded(outputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    return [postprocess(outputs["boxes"][i], outputs["scores"][i]) for i in range(len(outputs["boxes"]))]


def _map(detections: list[dict[str, np.ndarray]], targets: list[Any], labels: list[str]) -> float:
    truths = [{"boxes": np.asarray(t["boxes"], dtype=np.float64).reshape(-1, 4),
               "labels": np.asarray(t["labels"], dtype=np.int64)} for t in targets]
    return float(coco_map(truths, detections, labels)["map"])


def detection_parity(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any, names: tuple[str, str],
    *, judged_by: str | None = None, targets: list[Any] | None = None,
) -> ParityResult:
    """Max-abs and per-sample cosine of each output; the share of confident detections (both ways) the other
    model has too, after NMS; with ``targets``, the mAP of both (``top1_diff``: candidate minus reference, points,
    judged by ``max_top1_diff``)."""
    tol = criteria_of(tolerance)
    missing = sorted(set(reference) - set(candidate))
    samples = len(next(iter(reference.values())))
    diffs = {k: np.abs(reference[k].astype(np.float64) - candidate[k]) for k in reference if k in candidate}
    max_abs = max((float(d.max()) for d in diffs.values() if d.size), default=float("inf"))
    mean_abs = float(np.mean([d.mean() for d in diffs.values() if d.size])) if diffs else float("inf")
    min_cos = min((float(_cosines(reference[k], candidate[k]).min()) for k in diffs), default=0.0)
    stats: dict[str, Any] = {}
    agreement, confident = 0.0, 0
    if not missing:
        ref, cand = _decoded(reference), _decoded(candidate)
        pairs = [_matched(a, b) for a, b in zip(ref, cand, strict=True)] + \
            [_matched(b, a) for a, b in zip(ref, cand, strict=True)]
        confident = sum(c for c, _ in pairs)
        agreement = sum(m for _, m in pairs) / confident if confident else 1.0
        if targets is not None and len(targets) == samples:
            labels = [str(i) for i in range(reference["scores"].shape[-1])]
            stats["reference_top1"], stats["candidate_top1"] = _map(ref, targets, labels), _map(cand, targets, labels)
            stats["top1_diff"] = stats["candidate_top1"] - stats["reference_top1"]
    failed: list[tuple[str, str]] = []
    if missing:
        failed.append(("outputs", f"outputs {', '.join(missing)} missing from {names[1]}"))
    if tol.get("min_cosine") is not None and min_cos < tol["min_cosine"]:
        failed.append(("min_cosine", f"lowest cosine {min_cos:.6f} < {tol['min_cosine']} over {samples} images"))
    if tol.get("max_abs_diff") is not None and max_abs > tol["max_abs_diff"]:
        failed.append(("max_abs_diff", f"largest output difference {max_abs:.3g} > {tol['max_abs_diff']}"))
    if agreement < tol.get("min_top1_agreement", 1.0):
        failed.append(("min_top1_agreement", f"{agreement:.4f} of {confident} confident detections found by the "
                       f"other model < {tol.get('min_top1_agreement', 1.0)}"))
    failed += metric_diff_failure(stats, tol, samples, "mAP")
    delta = stats.get("top1_diff")
    map_part = f", mAP diff {delta:+.3f} pt" if delta is not None else ""
    reason = "; ".join(r for _, r in failed) or (
        f"{', '.join(diffs)}: max abs diff {max_abs:.3g}, lowest cosine {min_cos:.6f}; {agreement:.4f} of "
        f"{confident} confident detections found by both{map_part}")
    return ParityResult(
        reference=names[0], candidate=names[1], samples=samples, max_abs_diff=max_abs, mean_abs_diff=mean_abs,
        min_cosine=min_cos, top1_agreement=agreement, passed=not failed, reason=reason, mode=tol.get("mode", "fail"),
        failed=[f for f, _ in failed], tolerance=tol, judged_by=judged_by, confident_samples=confident, **stats,
    )
