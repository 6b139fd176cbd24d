"""Does distillation help? The ResNet56 prune + KD + INT8 recipe against the same recipe without KD, equal epochs.

Runs ``edgecv compress recipes/cifar10-resnet56-prune-kd-int8.yaml`` once per variant, one after the other (each
timed wall-clock, so the recipe's "<= 30 minutes on 2 cores" is measured too), then tabulates from each run's
report.json: the top-1 after every fine-tuning epoch, the distilled FP32, INT8 (ONNX Runtime CPU scheme) and INT8
(TensorRT scheme, run through ONNX Runtime) top-1 on the shared val.tar, MACs and parameter fractions.

Variants: ``kd`` (the recipe as shipped: alpha 0.9, T 4), ``no-kd`` (``--set stages.1.alpha=0.0``: the labels
only, same epochs, batches, schedule and augmentation), and ``kd-<N>ep`` for every ``--more-epochs N``.

    EDGECV_SHARED=../shared .venv/bin/python bench/kd_vs_no_kd.py                 # ~27 min on 2 cores
    .venv/bin/python bench/kd_vs_no_kd.py --existing kd=RUN_DIR --existing no-kd=RUN_DIR   # tabulate finished runs
    .venv/bin/python bench/kd_vs_no_kd.py --variants '' --more-epochs 10        # add a longer KD run

Variants measured before are kept in the results (replaced when measured again).

Writes bench/results/kd_vs_no_kd.json and .md (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402

RECIPE = REPO / "recipes" / "cifar10-resnet56-prune-kd-int8.yaml"
RESULTS = REPO / "bench" / "results"


def run_recipe(overrides: list[str], output: Path) -> tuple[Path, float]:
    """Run the recipe with ``overrides`` into ``output``; (its run folder, wall seconds)."""
    args = [str(REPO / ".venv" / "bin" / "edgecv"), "compress", str(RECIPE), "--set", f"output={output}"]
    for override in overrides:
        args += ["--set", override]
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    (run_dir,) = list(output.glob("*/*/report.json"))
    return run_dir.parent, seconds


def summarize(run_dir: Path, seconds: float | None) -> dict[str, Any]:
    """The numbers of one run, from its report.json."""
    report = json.loads((run_dir / "report.json").read_text())
    stages = {s["kind"]: s for s in report["stages"]}
    top1 = {v["artifact"]: v["metrics"]["top1"] for v in report["validations"]}
    distill = stages["distill"]["metrics"]
    return {
        "run_dir": str(run_dir), "wall_seconds": round(seconds if seconds is not None else report["total_seconds"], 1),
        "alpha": distill["alpha"], "epochs": len(distill["history"]),
        "epoch_top1": [h.get("selection", h.get("val_top1")) for h in distill["history"]],
        "macs_fraction": round(stages["prune"]["metrics"]["macs_fraction"], 3),
        "params_fraction": round(stages["prune"]["metrics"]["params_fraction"], 3),
        "removed_blocks": [b["block"] for b in stages["prune"]["metrics"].get("removed_blocks", [])],
        "top1_after_prune": stages["prune"]["metrics"]["top1"],
        "baseline": report["validations"][0]["artifact"], "top1_baseline": report["validations"][0]["metrics"]["top1"],
        "top1_original": top1.get("original-onnx"), "top1_fp32": top1.get("distilled-onnx"),
        "top1_int8_cpu": top1.get("int8-ort-cpu"), "top1_int8_tensorrt": top1.get("int8-tensorrt"),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = ["# ResNet56 prune + fine-tune + INT8: with and without KD (bench/kd_vs_no_kd.py)", "",
             f"Recipe {RECIPE.name}; {results['machine']}; table written {results['measured']}. Top-1 on the "
             "shared CIFAR-10 val.tar (5,000 images); the shared ResNet56 checkpoint scores 83.02% on it. Baseline: "
             "the unpruned FP32 model of the run (the teacher).", "",
             "| variant | alpha | epochs | baseline (teacher) | top-1 per epoch | FP32 | INT8 CPU | INT8 TensorRT "
             "scheme | MACs | params | wall time | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in results["variants"].items():
        lines.append(f"| {name} | {v['alpha']} | {v['epochs']} | {v.get('top1_baseline', v['top1_original'])} | "
                     f"{' → '.join(f'{t:.2f}' for t in v['epoch_top1'])} "
                     f"| {v['top1_fp32']} | {v['top1_int8_cpu']} | {v['top1_int8_tensorrt']} | "
                     f"{v['macs_fraction']:.1%} | {v['params_fraction']:.1%} | {v['wall_seconds'] / 60:.1f} min | "
                     f"{v.get('note', '')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="kd,no-kd", help="which of kd, no-kd to run (comma-separated; '' none)")
    parser.add_argument("--more-epochs", type=int, action="append", default=[], help="also a KD run of N epochs")
    parser.add_argument("--existing", action="append", default=[], help="NAME=RUN_DIR: tabulate a finished run")
    parser.add_argument("--note", action="append", default=[], help="NAME=TEXT: a remark shown with that variant")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder (default: a temporary one)")
    args = parser.parse_args()
    variants: dict[str, Any] = {}
    for item in args.existing:
        name, _, run_dir = item.partition("=")
        variants[name] = summarize(Path(run_dir), None)
    base = {"kd": [], "no-kd": ["stages.1.alpha=0.0"]}
    plan = {name: base[name] for name in filter(None, args.variants.split(",")) if name not in variants}
    plan.update({f"kd-{n}ep": [f"stages.1.epochs={n}"] for n in args.more_epochs})
    with tempfile.TemporaryDirectory() as folder:
        for name, overrides in plan.items():
            run_dir, seconds = run_recipe(overrides, (args.keep or Path(folder)) / name)
            variants[name] = summarize(run_dir, seconds)
            if args.keep is None:
                variants[name]["run_dir"] = "(temporary)"
            print(f"{name}: {variants[name]}", file=sys.stderr, flush=True)
    path = RESULTS / "kd_vs_no_kd.json"
    kept = json.loads(path.read_text())["variants"] if path.exists() else {}  # variants measured in earlier runs
    results = {"machine": f"{os.cpu_count()} cores", "measured": time.strftime("%Y-%m-%d %H:%M"),
               "variants": {**kept, **variants}}
    for item in args.note:
        name, _, text = item.partition("=")
        results["variants"][name]["note"] = text
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, results)
    text = markdown(results)
    atomic_write_text(RESULTS / "kd_vs_no_kd.md", text)
    print(text)


if __name__ == "__main__":
    main()
