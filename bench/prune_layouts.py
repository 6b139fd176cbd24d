"""Which pruned shapes are really faster: ResNet56 pruned several ways, FP32 and INT8, timed against the dense FP32.

Pruning that lowers MACs but not latency is a common complaint. Latency on ONNX Runtime's CPU INT8 path depends
on the shape the pruning leaves, not only on MACs: channel counts below the kernel's block width, or an op that
breaks the INT8 chain, cost more than the MACs they save. Each layout is pruned from the shared, pretrained
ResNet56 without fine-tuning (latency does not depend on the weights' values), quantized with edgecv's
ONNX-Runtime-CPU scheme, and timed in the same rounds as the dense FP32 and dense INT8 models.

Layouts (global L2 channel pruning to <= 50% MACs and params unless noted):

- ``round8-gather``: channels rounded to 8, option-A shortcuts left as channel gathers (edgecv before this bench)
- ``round8``: rounded to 8, gathers turned into selection convs (``edgecv.models.pruning.finalize_pruned``)
- ``round16``: rounded to 16 (host-cpu's ``channel_alignment``), selection convs
- ``blocks4-round16``: 4 residual blocks removed first (``edgecv.compress.depth``), then as ``round16``
  (the shipped recipe's prune stage)

    .venv/bin/python bench/prune_layouts.py            # ~4 min on 2 cores

Writes bench/results/prune_layouts.json and .md (atomically).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import load, median, time_rounds  # noqa: E402

from edgecv.artifacts import InputSpec, atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.compress.depth import remove_blocks  # noqa: E402
from edgecv.compress.pruning import ChannelPruner  # noqa: E402
from edgecv.data import calibration_subset, make_loader  # noqa: E402
from edgecv.data.imagefolder import image_folder  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.model_stats import count_macs, count_params  # noqa: E402
from edgecv.models.pruning import finalize_pruned  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_export import quantize_to_onnx  # noqa: E402
from edgecv.quantize.onnx_graph import ort_fusion  # noqa: E402

RESULTS = REPO / "bench" / "results"
SHAPE = (3, 32, 32)
LAYOUTS: dict[str, dict[str, Any]] = {
    "round8-gather": {"round_to": 8, "blocks": 0, "selection_convs": False},
    "round8": {"round_to": 8, "blocks": 0, "selection_convs": True},
    "round16": {"round_to": 16, "blocks": 0, "selection_convs": True},
    "blocks4-round16": {"round_to": 16, "blocks": 4, "selection_convs": True},
}


def prune(model: torch.nn.Module, images: torch.Tensor, round_to: int, blocks: int,
          selection_convs: bool) -> dict[str, Any]:
    """Prune ``model`` in place as the layout says; its channel counts and MACs/params fractions."""
    baseline = (count_macs(model, SHAPE), count_params(model))
    removed = remove_blocks(model, blocks, images) if blocks else []
    pruner = ChannelPruner(model, torch.zeros(1, *SHAPE), importance="l2", round_to=round_to,
                           global_pruning=True, baseline=baseline)
    pruner.prune_until(macs_fraction=0.5, params_fraction=0.5)
    converted = finalize_pruned(model) if selection_convs else 0
    return {"removed_blocks": [r["block"] for r in removed], "selection_convs": converted,
            "macs_fraction": round(pruner.macs_fraction(), 3), "params_fraction": round(pruner.params_fraction(), 3),
            "conv_channels": [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    train = image_folder(args.shared / "data" / "cifar10-jpeg" / "train.tar", "train")
    model, pre = load("resnet56", args.shared, train)
    spec = InputSpec(shape=SHAPE)
    calibration = calibration_data(train, pre, 256, 32, seed=0)
    images = torch.cat([x for x, _ in make_loader(calibration_subset(train, 512, seed=0), pre, 256)])
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "measured": time.strftime("%Y-%m-%d %H:%M"),
                               "layouts": {}}
    with tempfile.TemporaryDirectory() as folder:
        paths = {"fp32": Path(folder) / "dense-fp32.onnx", "dense-int8": Path(folder) / "dense-int8.onnx"}
        export_onnx(model, spec, paths["fp32"], opset=17)
        quantize_to_onnx(model, spec, calibration, "onnxruntime-cpu", paths["dense-int8"])
        for name, layout in LAYOUTS.items():
            pruned = copy.deepcopy(model)
            results["layouts"][name] = prune(pruned, images, **layout)
            for precision in ("fp32", "int8"):
                paths[f"{name}-{precision}"] = Path(folder) / f"{name}-{precision}.onnx"
            export_onnx(pruned, spec, paths[f"{name}-fp32"], opset=17)
            quantize_to_onnx(pruned, spec, calibration, "onnxruntime-cpu", paths[f"{name}-int8"])
            ops = ort_fusion(paths[f"{name}-int8"])["ops"]
            results["layouts"][name]["int8_graph"] = {op: ops.get(op, 0) for op in ("Transpose", "Gather", "Add")}
            print(f"{name}: {results['layouts'][name]}", file=sys.stderr, flush=True)
        times = time_rounds(paths, SHAPE, [1, 32], args.rounds, {1: 0.5, 32: 2.0})
    speed = {n: {b: round(median([f / t for f, t in zip(times["fp32"][b], times[n][b], strict=True)]), 2)
                 for b in (1, 32)} for n in times}
    results["speed_vs_dense_fp32"] = speed
    lines = ["# ResNet56 pruned layouts: speed vs dense FP32 (bench/prune_layouts.py)", "",
             f"{results['machine']}, ONNX Runtime CPU, {args.rounds} rounds, measured {results['measured']}. "
             "Speed = dense FP32 p50 / variant p50 within a round (median over rounds).", "",
             "| layout | MACs | params | INT8 Transposes / Gathers / float Adds | FP32 b1 | FP32 b32 | INT8 b1 "
             "| INT8 b32 |", "|---|---|---|---|---|---|---|---|",
             f"| dense | 1.000 | 1.000 | - | 1.00x | 1.00x | {speed['dense-int8'][1]:.2f}x "
             f"| {speed['dense-int8'][32]:.2f}x |"]
    for name, row in results["layouts"].items():
        graph = row["int8_graph"]
        lines.append(f"| {name} | {row['macs_fraction']:.3f} | {row['params_fraction']:.3f} | "
                     f"{graph['Transpose']} / {graph['Gather']} / {graph['Add']} | "
                     f"{speed[name + '-fp32'][1]:.2f}x | {speed[name + '-fp32'][32]:.2f}x | "
                     f"{speed[name + '-int8'][1]:.2f}x | {speed[name + '-int8'][32]:.2f}x |")
    markdown = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "prune_layouts.json", results)
    atomic_write_text(RESULTS / "prune_layouts.md", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
