"""How precisely the selection split measures an accuracy drop: a paired bootstrap over its images.

Accuracy control judges its budget on the selection split. With few images (COCO128 leaves 55) the drop it
measures moves by more than the budget from one sample of images to another, so which layers it keeps in float
is partly chance and the budget may not hold on the reported val split (FastestDet: 0.5-point budget met on
selection, 1.2 points lost on val). This resamples the selection images with replacement, scores the FP32 and the
chosen INT8 file on the same resample (paired: image difficulty cancels), and gives the drop's 90% interval. When
half its width is larger than the budget, the quantize stage warns that the split cannot resolve the budget; when
the budget is met but the interval reaches past it, that the margin is within the noise (ESPNet on CamVid, CPU
scheme: +0.49 on 30 selection frames, interval +0.22 to +0.87; +0.62 on the 71 reported frames).

Example::

    reference = Scorer(task, labels, per_image_outputs(Path("fp32.onnx"), loader_of_one, threads=2))
    candidate = per_image_outputs(Path("int8.onnx"), loader_of_one, threads=2)
    paired_bootstrap_drop(task, labels, reference, candidate, Budget(0.5))
    # FastestDet's all-INT8 CPU-scheme file on COCO128's 55 selection images (200 resamples):
    # {"drop": 1.01, "interval90": [0.16, 2.34], "half_width": 1.09, "images": 55, "resamples": 200}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgecv.quantize.accuracy_control import Budget
    from edgecv.tasks.base import Task

MAX_IMAGES = 1000
"""Larger selection splits are not resampled (one evaluator pass per image and resample gets slow; and the
interval of a drop measured on that many images is rarely wider than a budget)."""


@dataclass
class PerImage:
    """One model's outputs and the targets, image by image (batches of one)."""

    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)


def per_image_outputs(path: Path, loader: Any, threads: int | None) -> PerImage:
    """Run the ONNX file at ``path`` over ``loader`` (batch size 1) through ONNX Runtime."""
    from edgecv.runtime import OrtRunner

    result = PerImage()
    with OrtRunner(path, threads=threads) as runner:
        for images, targets in loader:
            result.outputs.append(runner.infer_all(images.numpy()))
            result.targets.append(targets)
    return result


class Scorer:
    """The metric on any resample of one model's images; each image is decoded once when the task's evaluator can
    select updates (``Evaluator.resampled``), else the resample is fed to a fresh evaluator. Scores are kept, so
    the FP32 reference is scored once for every scheme's bootstrap (same seed, same resamples)."""

    def __init__(self, task: Task, labels: list[str], per: PerImage) -> None:
        self.task, self.labels, self.per = task, labels, per
        self.full = task.evaluator(labels)
        for outputs, targets in zip(per.outputs, per.targets, strict=True):
            self.full.update(outputs, targets)
        self.scores: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self.per.targets)

    def __call__(self, picks: np.ndarray) -> float:
        key = picks.tobytes()
        if key not in self.scores:
            self.scores[key] = self._score(picks)
        return self.scores[key]

    def _score(self, picks: np.ndarray) -> float:
        evaluator = self.full.resampled([int(i) for i in picks])
        if evaluator is None:
            evaluator = self.task.evaluator(self.labels)
            for index in picks:
                evaluator.update(self.per.outputs[index], self.per.targets[index])
        return float(self.task.metric.value(evaluator.compute()) or 0.0)


def paired_bootstrap_drop(task: Task, labels: list[str], reference: PerImage | Scorer, candidate: PerImage,
                          budget: Budget, resamples: int = 100, seed: int = 0) -> dict[str, Any]:
    """The candidate's drop from the reference on all images, and its 5th-95th percentile over resamples."""
    ours = reference if isinstance(reference, Scorer) else Scorer(task, labels, reference)
    theirs = Scorer(task, labels, candidate)
    count = len(ours)
    every = np.arange(count)
    drop = budget.drop(ours(every), theirs(every))
    rng = np.random.default_rng(seed)
    drops = []
    for _ in range(resamples):
        picks = rng.integers(0, count, count)
        drops.append(budget.drop(ours(picks), theirs(picks)))
    low, high = (float(v) for v in np.percentile(drops, [5, 95]))
    return {"drop": round(drop, 3), "interval90": [round(low, 3), round(high, 3)],
            "half_width": round((high - low) / 2, 3), "images": count, "resamples": resamples}


def float_gain(ctx: Any, images: Any, all_int8: Path, chosen: Path, budget: Budget) -> dict[str, Any] | None:
    """What keeping layers in float gained on the selection ``images`` (the ``chosen`` file against the ``all_int8``
    one, paired bootstrap); ``resolved`` when the chosen file is better in at least 95% of the resamples. None when
    the split is too large to resample or a file is missing (the gain then counts as measured).

    A float layer costs speed (it breaks an int8 chain on a CPU); on a small split the gain accuracy control
    measured may be chance (FastestDet, CPU scheme: 4 layers float gained 0.72 point on 55 selection images and
    lost 0.56 point on the 73 reported ones against the all-INT8 file)."""
    if len(images) > MAX_IMAGES or not all_int8.is_file() or not chosen.is_file():
        return None
    threads, one = ctx.recipe.validate_.threads, ctx.loader(images, 1)
    base, candidate = per_image_outputs(all_int8, one, threads), per_image_outputs(chosen, one, threads)
    result = paired_bootstrap_drop(ctx.task, ctx.splits.labels, base, candidate, budget)
    low, high = result["interval90"]
    gain = 0.0 - result["drop"]  # (0.0 - x, not -x: no "-0.00" for no gain)
    return {"gain": gain, "interval90": [0.0 - high, 0.0 - low], "images": result["images"],
            "resamples": result["resamples"], "resolved": high < 0}


def reverts_to_int8(gain: dict[str, Any] | None, kept: list[str], required: bool) -> bool:
    """Whether ``require_resolved_gain`` (``required``) sends the ``kept`` float layers back to INT8: their gain is
    within the split's noise. If so, ``gain`` records them as ``dropped_float_layers``."""
    if gain is None or gain["resolved"] or not required:
        return False
    gain["dropped_float_layers"] = kept
    return True


def unresolved_gain_warning(gain: dict[str, Any], scheme: str, layers: int) -> str | None:
    """The warning when the ``layers`` accuracy control kept in float (or dropped: ``gain["dropped_float_layers"]``)
    gained no more than the split's noise, else None."""
    if gain["resolved"]:
        return None
    dropped = gain.get("dropped_float_layers")
    low, high = gain["interval90"]
    said = (f"{scheme}: keeping {len(dropped) if dropped else layers} layer(s) in float gained {gain['gain']:+.2f} on "
            f"the {gain['images']} selection images, but the gain's 90% interval ({low:+.2f} to {high:+.2f}, paired "
            "bootstrap) does not exclude none")
    if dropped:
        return f"{said}: every layer stays INT8 (require_resolved_gain: true); hold out more selection images"
    return (f"{said}: they cost speed for a gain that may be chance; hold out more selection images, or set "
            "require_resolved_gain: true to keep every layer INT8 in such a case")


def noise_warning(noise: dict[str, Any], budget: Budget, scheme: str) -> str | None:
    """A warning when the selection split measures drops less precisely than the budget asks, or when the budget is
    met but the drop's interval reaches past it (the margin is within the split's noise), else None."""
    if noise.get("half_width") is None:
        return None
    low, high = noise["interval90"]
    if noise["half_width"] <= budget.max_drop:
        if not noise["drop"] <= budget.max_drop < high:
            return None
        return (f"{scheme}: the budget of {budget.describe()} is met on the {noise['images']} selection images "
                f"(drop {noise['drop']:+.2f}), but the drop's 90% interval reaches {high:+.2f} (paired bootstrap): "
                "on other images it may not hold; hold out more selection images (data.selection_fraction) or leave "
                "a margin (a smaller max_accuracy_drop)")
    return (f"{scheme}: on the {noise['images']} selection images the INT8 drop is {noise['drop']:+.2f} with a 90% "
            f"interval of {low:+.2f} to {high:+.2f} (paired bootstrap), wider than the budget of "
            f"{budget.describe()}: which layers stay float may not carry over to other images; hold out more "
            "selection images (data.selection_fraction, or more data)")
