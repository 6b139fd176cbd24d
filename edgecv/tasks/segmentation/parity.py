"""Parity of an exported segmenter with its torch parent: per-pixel argmax agreement and the mIoU difference.

Agreement is judged on confident pixels: those whose reference top-2 logit margin is at least ``min_margin`` times
the logit scale (the RMS of the logits around each pixel's mean); near ties may flip legitimately. ``max_top1_diff``
bounds |mIoU difference| in points on the compared images (``reference_top1``/``candidate_top1``/``top1_diff``
hold the mIoUs and their difference); ``min_cosine`` and ``max_abs_diff`` judge the raw
logits of each image.

Example::

    result = segmentation_parity(torch_out, onnx_out, recipe.export.parity, ("trained", "trained-onnx"), labels)
    result.passed, result.top1_diff            # the mIoU difference in points
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecv.tasks.segmentation.metrics import SegmentationEvaluator
from edgecv.validate.parity import ParityResult, criteria_of, metric_diff_failure


def _image_stats(ref: np.ndarray, cand: np.ndarray, min_margin: float) -> dict[str, float]:
    """Sums and extremes of one (C, H, W) pair; the logit scale is this image's."""
    r, c = ref.astype(np.float64).reshape(len(ref), -1), cand.astype(np.float64).reshape(len(cand), -1)
    diff = np.abs(r - c)
    norm = np.linalg.norm(r) * np.linalg.norm(c)
    same = r.argmax(0) == c.argmax(0)
    scale = float(np.sqrt(((r - r.mean(0, keepdims=True)) ** 2).mean()))
    top2 = np.sort(r, axis=0)[-2:] if len(r) > 1 else np.concatenate([r, r - np.inf])
    confident = (top2[-1] - top2[0]) >= min_margin * scale if scale > 0 else np.zeros(r.shape[1], bool)
    return {"max_abs": float(diff.max()), "sum_abs": float(diff.sum()), "values": diff.size,
            "cosine": float((r * c).sum() / norm) if norm > 0 else 1.0, "same": int(same.sum()),
            "pixels": same.size, "confident": int(confident.sum()), "confident_same": int(same[confident].sum())}


def _miou(outputs: np.ndarray, truth: np.ndarray) -> float:
    """mIoU over classes 0..(highest class in ``truth``): an extra output channel (void) counts as a miss."""
    evaluator = SegmentationEvaluator([str(i) for i in range(max(int(truth.max()) + 1, 1))])
    evaluator.update({"logits": outputs}, truth)
    return float(evaluator.compute()["miou"])


def segmentation_parity(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Any, names: tuple[str, str],
    targets: list[Any] | None = None, *, judged_by: str | None = None,
) -> ParityResult:
    """Compare the ``logits`` of two segmenters image by image; mIoU of both on ``targets`` when given."""
    tol = criteria_of(tolerance)
    key = "logits" if "logits" in reference else next(iter(reference))
    if key not in candidate:
        return ParityResult(reference=names[0], candidate=names[1], samples=0, max_abs_diff=float("inf"),
                            mean_abs_diff=float("inf"), min_cosine=0.0, top1_agreement=0.0, passed=False,
                            reason=f"output {key} missing from {names[1]}", mode=tol.get("mode", "fail"),
                            failed=["outputs"], tolerance=tol, judged_by=judged_by)
    ref, cand = reference[key], candidate[key]
    per = [_image_stats(r, c, float(tol.get("min_margin", 0.0))) for r, c in zip(ref, cand, strict=True)]
    confident = sum(p["confident"] for p in per)
    stats: dict[str, Any] = {
        "max_abs_diff": max(p["max_abs"] for p in per), "min_cosine": min(p["cosine"] for p in per),
        "mean_abs_diff": sum(p["sum_abs"] for p in per) / sum(p["values"] for p in per),
        "top1_agreement": sum(p["same"] for p in per) / sum(p["pixels"] for p in per),
        "confident_samples": confident,
        "confident_top1_agreement": sum(p["confident_same"] for p in per) / confident if confident else None,
    }
    if targets is not None and len(targets) == len(ref):
        truth = np.stack([np.asarray(t) for t in targets])
        stats["reference_top1"], stats["candidate_top1"] = _miou(ref, truth), _miou(cand, truth)
        stats["top1_diff"] = stats["candidate_top1"] - stats["reference_top1"]
    failed = _failures(stats, tol, len(ref))
    agree = stats["confident_top1_agreement"]
    passing = f"same class on {agree if agree is not None else 1.0:.6f} of {confident} confident pixels" + (
        f", mIoU diff {stats['top1_diff']:+.3f} pt" if "top1_diff" in stats else "")
    return ParityResult(
        reference=names[0], candidate=names[1], samples=len(ref), passed=not failed,
        reason="; ".join(why for _, why in failed) or f"within tolerance ({passing})", mode=tol.get("mode", "fail"),
        failed=[f for f, _ in failed], min_margin=tol.get("min_margin"), tolerance=tol, judged_by=judged_by,
        **stats,
    )


def _failures(stats: dict[str, Any], tol: dict[str, Any], samples: int) -> list[tuple[str, str]]:
    out = []
    agree, need = stats["confident_top1_agreement"], tol.get("min_top1_agreement")
    if need is not None and agree is not None and agree < need:
        out.append(("min_top1_agreement", f"same class on {agree:.6f} < {need} of {stats['confident_samples']} "
                    f"confident pixels (all pixels: {stats['top1_agreement']:.6f})"))
    out += metric_diff_failure(stats, tol, samples, "mIoU")
    if tol.get("min_cosine") is not None and stats["min_cosine"] < tol["min_cosine"]:
        out.append(("min_cosine", f"lowest per-image cosine {stats['min_cosine']:.6f} < {tol['min_cosine']}"))
    if tol.get("max_abs_diff") is not None and stats["max_abs_diff"] > tol["max_abs_diff"]:
        out.append(("max_abs_diff", f"max |diff| {stats['max_abs_diff']:.2e} > {tol['max_abs_diff']:.0e}"))
    return out
