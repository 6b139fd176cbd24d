"""FastestDet's val mAP right after channel pruning (no BatchNorm re-estimation, no KD), per alignment and criterion.

How much accuracy the pruning step itself costs, before any recovery: the prune stage's ChannelPruner (channel
shuffles kept whole, the head kept whole) on the shared checkpoint, val mAP@0.5:0.95 of the torch model on the
recipe's 73 val images. ``bench/results/prune_fastestdet_immediate.{json,md}``::

    .venv/bin/python bench/prune_fastestdet_immediate.py        # ~5 min on 2 loaded cores
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compress_cifar10 import log
from detection_fastestdet import RECIPE, evaluate

from edgecv.artifacts import atomic_write_json, atomic_write_text
from edgecv.compress.pruning import ChannelPruner
from edgecv.preflight import preflight
from edgecv.recipe import load_recipe
from edgecv.runtime import TorchRunner
from edgecv.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = [(16, "l2", 0.7), (16, "bn_scale", 0.7), (8, "l2", 0.9), (8, "bn_scale", 0.9)]
"""(round_to, importance, target MACs fraction): 16 is host-cpu's alignment, 8 the Jetsons'."""


def main() -> None:
    recipe = load_recipe(RECIPE, ["stages=[]"])
    _, splits, pre, spec, model = preflight(recipe)
    task = get_task("detection")
    val = task.loader(splits.val, pre, 16)
    example = torch.zeros(1, *spec.shape)
    rows: list[dict[str, Any]] = [{"variant": "unpruned", "macs_fraction": 1.0,
                                   **evaluate(TorchRunner(model), val, splits.labels)}]
    for round_to, importance, target in CONFIGS:
        pruned = copy.deepcopy(model).eval()
        pruner = ChannelPruner(pruned, example, importance=importance, round_to=round_to,
                               heads=task.protected_modules(pruned))
        pruner.prune_until(macs_fraction=target)
        rows.append({"variant": f"round_to {round_to}, {importance}, target {target}",
                     "macs_fraction": round(pruner.macs_fraction(), 3),
                     "kept_whole": len(pruner.channel_split_layers),
                     **evaluate(TorchRunner(pruned), val, splits.labels)})
        log(f"  {rows[-1]}")
    lines = ["# FastestDet right after channel pruning (val, torch, no BatchNorm re-estimation, no KD)", "",
             "| variant | MACs | mAP@0.5:0.95 | mAP@0.5 |", "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['macs_fraction']:.3f} | {r['map']:.2f} | {r['map50']:.2f} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "prune_fastestdet_immediate.json", {"val_images": len(splits.val), "rows": rows})
    atomic_write_text(RESULTS / "prune_fastestdet_immediate.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
