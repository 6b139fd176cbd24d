"""FastestDet (a user's ShuffleNetV2 detector) channel-pruned around its channel shuffles, then distilled: MACs, mAP
before and after KD on val, and ONNX Runtime CPU latency at batch 1 of the pruned FP32 ONNX against the unpruned one.

Reads a finished run of ``recipes/coco128-fastestdet.yaml`` with a prune and a distill stage, e.g.::

    edgecv compress recipes/coco128-fastestdet.yaml --set 'validate.devices=[host-cpu]' \\
        --set 'stages=[{type: prune, target_macs: 0.7}, {type: distill, epochs: 8, alpha: 1.0, optimizer: adamw,
                       lr: 0.001, weight_decay: 0.0}]'
    .venv/bin/python bench/prune_fastestdet.py --run runs/coco128-fastestdet/<id> --rounds 9

Latency: both FP32 ONNX files timed as blocks in rotated order within each round (compress_cifar10.time_rounds);
the speed-up is unpruned p50 / pruned p50 within a round (median and range over the rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compress_cifar10 import log, median, time_rounds

from edgecv.artifacts import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
SHAPE = (3, 352, 352)


def artifact_paths(run: Path, report: dict[str, Any]) -> dict[str, Path]:
    """ONNX artifacts of the run by name (paths in report.json are relative to the run folder)."""
    return {a["name"]: Path(a["path"]) if Path(a["path"]).is_absolute() else run / a["path"]
            for a in report["artifacts"] if a["format"] == "onnx"}


def summary(run: Path, report: dict[str, Any], times: dict[str, Any], final: str) -> dict[str, Any]:
    """MACs, mAP at each step (val), sizes and the same-round speed-ups."""
    stages = {s["kind"]: s for s in report["stages"]}
    prune, distill = stages["prune"]["metrics"], stages.get("distill", {}).get("metrics", {})
    val = {v["artifact"]: v for v in report["validations"] if v["device"] == "host-cpu"}
    ratios = [f / p for f, p in zip(times["fp32"][1], times["pruned"][1], strict=True)]
    return {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "run": str(run), "rounds": len(ratios),
        "macs_fraction": round(prune["macs_fraction"], 4), "params_fraction": round(prune["params_fraction"], 4),
        "round_to": prune["round_to"], "channel_split_layers": prune.get("channel_split_layers"),
        "map_val": {"unpruned": val["original-onnx"]["metrics"]["map"], "pruned": prune["rounds"][-1]["pruned"],
                    "pruned_before_kd": prune["map"],  # BatchNorm re-estimated when the stage did it
                    "after_kd": val[final]["metrics"]["map"], "after_kd_torch": val[final]["metrics"]["torch_map"]},
        "map50_val": {"unpruned": val["original-onnx"]["metrics"]["map50"], "after_kd": val[final]["metrics"]["map50"]},
        "kd_epochs": len(distill.get("history", [])),
        "size_mb": {"unpruned": val["original-onnx"]["model_size_mb"], "pruned": val[final]["model_size_mb"]},
        "p50_ms_b1": {"unpruned": round(median(times["fp32"][1]), 3), "pruned": round(median(times["pruned"][1]), 3)},
        "speedup_b1": round(median(ratios), 3), "speedup_b1_range": [round(min(ratios), 3), round(max(ratios), 3)],
    }


def markdown(r: dict[str, Any]) -> str:
    m = r["map_val"]
    return "\n".join([
        "# FastestDet channel-pruned around its channel shuffles, then distilled (COCO128)",
        "",
        f"Run `{r['run']}`; {r['channel_split_layers']} layers kept whole (their channels pass a channel shuffle), "
        f"channels rounded to {r['round_to']}; KD {r['kd_epochs']} epochs, label-free (alpha 1). "
        f"ONNX Runtime CPU, {r['machine']['cpu_count']} cores, batch 1, {r['rounds']} rotated rounds.",
        "",
        "| model | MACs | mAP@0.5:0.95 val | mAP@0.5 val | ONNX MB | p50 ms b1 | speed-up b1 (range) |",
        "|---|---|---|---|---|---|---|",
        f"| unpruned FP32 | 1.00 | {m['unpruned']:.2f} | {r['map50_val']['unpruned']:.2f} | "
        f"{r['size_mb']['unpruned']:.3f} | {r['p50_ms_b1']['unpruned']:.2f} | 1x |",
        f"| pruned (torch) | {r['macs_fraction']:.2f} | {m['pruned']:.2f} | | | | |",
        f"| pruned, BatchNorm re-estimated, before KD (torch) | {r['macs_fraction']:.2f} | "
        f"{m['pruned_before_kd']:.2f} | | | | |",
        f"| pruned + KD FP32 | {r['macs_fraction']:.2f} | {m['after_kd']:.2f} | {r['map50_val']['after_kd']:.2f} | "
        f"{r['size_mb']['pruned']:.3f} | {r['p50_ms_b1']['pruned']:.2f} | {r['speedup_b1']:.2f}x "
        f"({r['speedup_b1_range'][0]:.2f}-{r['speedup_b1_range'][1]:.2f}) |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished prune + distill run of the recipe")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--name", default="prune_fastestdet", help="results file stem under bench/results/")
    args = parser.parse_args()
    report = json.loads((args.run / "report.json").read_text())
    onnx = artifact_paths(args.run, report)
    final = next(name for name in onnx if name != "original-onnx")
    log(f"timing original-onnx against {final}")
    times = time_rounds({"fp32": onnx["original-onnx"], "pruned": onnx[final]}, SHAPE, [1], args.rounds, {1: 1.5})
    results = summary(args.run, report, times, final)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / f"{args.name}.json", results)
    atomic_write_text(RESULTS / f"{args.name}.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
