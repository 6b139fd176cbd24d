"""How precisely a small val split measures an INT8 drop: the paired bootstrap accuracy control uses on selection,
applied to the reported val images (for the reader only: nothing is decided on it).

COCO128 leaves 73 val images: a 0.5-point mAP bar is about the width of the drop's own noise there, so a bench
prints the drop with its 90% interval, and a bar counts as clearly met (interval below it), clearly missed (interval
above it) or within the noise.

Example::

    drops = val_drop_intervals(task, splits.labels, task.loader(splits.val, pre, 1), fp32, {"int8": int8})
    drops["int8"]   # {"drop": 0.30, "interval90": [-0.41, 1.02], "half_width": 0.72, "images": 73, ...}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgecv.quantize.accuracy_control import Budget
from edgecv.quantize.selection_noise import Scorer, paired_bootstrap_drop, per_image_outputs

RESAMPLES = 200


def val_drop_intervals(task: Any, labels: list[str], loader_of_one: Any, fp32: Path,
                       variants: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Each variant's drop from ``fp32`` on the loader's images (batch 1) with its 90% paired-bootstrap interval."""
    threads = os.cpu_count()
    reference = Scorer(task, labels, per_image_outputs(fp32, loader_of_one, threads))
    budget = Budget(0.0, "absolute", task.metric.higher_is_better)  # only the drop's direction and unit are used
    return {name: paired_bootstrap_drop(task, labels, reference, per_image_outputs(path, loader_of_one, threads),
                                        budget, resamples=RESAMPLES)
            for name, path in variants.items()}


def verdict(drop: dict[str, Any], bar: float) -> str:
    """``met`` / ``missed`` when the whole 90% interval is on one side of ``bar``, else ``within noise``."""
    low, high = drop["interval90"]
    return "met" if high <= bar else "missed" if low > bar else "within noise"


def describe(drop: dict[str, Any], bar: float) -> str:
    """``+0.30 (90%: -0.41 to +1.02; bar 0.5: within noise)``."""
    low, high = drop["interval90"]
    return f"{drop['drop']:+.2f} (90%: {low:+.2f} to {high:+.2f}; bar {bar}: {verdict(drop, bar)})"
