"""FastestDet (a user's own detector) on COCO128: edgecv's INT8 against the peers' defaults, mAP and speed in one run.

Takes a finished run of ``recipes/coco128-fastestdet.yaml`` (FP32 export, INT8 in the ONNX Runtime CPU scheme and
the TensorRT scheme, accuracy control on the selection split) and adds, on the same network and the same
calibration images (the run's 32, seeded):

- ``nncf-defaults``: plain ``nncf.quantize`` of the network with its box decoding (NNCF 3.4 on this model needs
  two things a user would have to find: the ``Tensor.data`` descriptor copied by reference, and the quantizers
  shared by ``torch.cat`` inputs converted after ``nncf.strip``; edgecv's helpers for both are used, nothing else);
- ``ort-static-defaults``: ONNX Runtime ``quantize_static`` with its defaults on the FP32 ONNX.

Per variant: mAP@0.5:0.95 and @0.5 on the reported val split (never used for a decision) through ONNX Runtime,
ONNX size, and ONNX Runtime CPU latency p50 at batch 1 with the ratio to FP32 taken within each rotated round
(DESIGN: timing on 2 cores). Also torch's FP32 mAP against the FP32 ONNX's on all 128 images.

    .venv/bin/python bench/detection_fastestdet.py --run runs/coco128-fastestdet/<id>

Writes bench/results/detection_fastestdet.json and .md, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log, median, time_rounds  # noqa: E402
from peers import nncf_defaults, ort_defaults  # noqa: E402
from val_noise import RESAMPLES, describe, val_drop_intervals  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.runtime import OrtRunner, TorchRunner  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RECIPE = REPO / "recipes" / "coco128-fastestdet.yaml"
RESULTS = REPO / "bench" / "results"


def evaluate(runner: Any, loader: Any, labels: list[str]) -> dict[str, float]:
    from edgecv.validate.accuracy import evaluate_runner

    metrics = evaluate_runner(runner, loader, labels, get_task("detection"))
    return {"map": round(float(metrics["map"]), 3), "map50": round(float(metrics["map50"]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run of recipes/coco128-fastestdet.yaml")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--uncontrolled", type=Path, default=None,
                        help="the CPU-scheme INT8 file of a run of the same recipe without max_accuracy_drop, "
                        "shown beside the controlled one")
    args = parser.parse_args()
    report = json.loads((args.run / "report.json").read_text())
    artifacts = {a["name"]: args.run / a["path"] if not Path(a["path"]).is_absolute() else Path(a["path"])
                 for a in report["artifacts"] if a["format"] == "onnx"}
    recipe = load_recipe(RECIPE)
    _, splits, pre, spec, model = preflight(recipe)
    spec = spec.model_copy(update={"dynamic_batch": False})
    task = get_task("detection")
    calibration = calibration_data(splits.train, pre, 32, 16, recipe.data.seed, task=task)
    folder = Path(tempfile.mkdtemp(prefix="fastestdet-bench-"))
    paths = {"fp32": artifacts["original-onnx"], "edgecv-int8-ort-cpu": artifacts["int8-ort-cpu"],
             "edgecv-int8-tensorrt-scheme": artifacts["int8-tensorrt"],
             "nncf-defaults": folder / "nncf-defaults.onnx", "ort-static-defaults": folder / "ort-defaults.onnx"}
    if args.uncontrolled is not None:
        paths["edgecv-int8-ort-cpu-all-layers"] = args.uncontrolled
    log("building the peers")
    nncf_defaults(model, calibration, spec, paths["nncf-defaults"], task)
    ort_defaults(paths["fp32"], calibration, paths["ort-static-defaults"])
    val = task.loader(splits.val, pre, 16)
    rows: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        with OrtRunner(path, threads=os.cpu_count()) as runner:
            rows[name] = {**evaluate(runner, val, splits.labels), "size_mb": round(path.stat().st_size / 1e6, 3)}
        log(f"  {name}: {rows[name]}")
    log("val drops with their 90% intervals (paired bootstrap)")
    drops = val_drop_intervals(task, splits.labels, task.loader(splits.val, pre, 1), paths["fp32"],
                               {name: path for name, path in paths.items() if name != "fp32"})
    every = task.loader(torch.utils.data.ConcatDataset([splits.val, splits.selection]), pre, 16)
    with OrtRunner(paths["fp32"], threads=os.cpu_count()) as runner:
        onnx_all = evaluate(runner, every, splits.labels)
    torch_all = evaluate(TorchRunner(model), every, splits.labels)
    times = time_rounds(paths, spec.shape, [1], args.rounds, {1: 1.5})
    for name in paths:
        ratios = [f / t for f, t in zip(times["fp32"][1], times[name][1], strict=True)]
        rows[name]["p50_ms_b1"] = round(median(times[name][1]), 3)
        rows[name]["speedup_b1"] = round(median(ratios), 3)
        rows[name]["speedup_b1_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    stage = next(s for s in report["stages"] if s["kind"] == "quantize")
    control = {s["scheme"]: s.get("accuracy_control", {}) for s in stage["metrics"]["schemes"]}
    results = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "run": str(args.run), "val_images": len(splits.val), "selection_images": len(splits.selection),
        "rounds": args.rounds, "rows": rows, "val_drop_intervals": drops,
        "fp32_all_128": {"torch": torch_all, "onnxruntime": onnx_all},
        "accuracy_control": {k: {f: v.get(f) for f in ("budget", "reference", "met", "float_layers", "samples")}
                             for k, v in control.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "detection_fastestdet.json", results)
    atomic_write_text(RESULTS / "detection_fastestdet.md", markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    rows, fp32 = results["rows"], results["rows"]["fp32"]
    lines = [
        "# FastestDet on COCO128: edgecv INT8 vs the peers' defaults",
        "",
        f"mAP on the {results['val_images']} reported val images (the {results['selection_images']} selection "
        "images decided accuracy control's float layers); ONNX Runtime CPU, batch 1, "
        f"{results['rounds']} rotated rounds, speed-up = FP32 p50 / variant p50 within a round (median, range).",
        "",
        "| variant | mAP@0.5:0.95 | drop | mAP@0.5 | size MB | p50 ms b1 | speed-up b1 (range) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        low, high = row["speedup_b1_range"]
        lines.append(f"| {name} | {row['map']:.2f} | {fp32['map'] - row['map']:+.2f} | {row['map50']:.2f} | "
                     f"{row['size_mb']:.3f} | {row['p50_ms_b1']:.2f} | "
                     f"{row['speedup_b1']:.2f}x ({low:.2f}-{high:.2f}) |")
    every = results["fp32_all_128"]
    lines += [
        "",
        f"FP32 on all 128 images: torch mAP {every['torch']['map']:.3f} / {every['torch']['map50']:.3f}, "
        f"ONNX Runtime {every['onnxruntime']['map']:.3f} / {every['onnxruntime']['map50']:.3f} (@0.5:0.95 / @0.5).",
        "",
        f"The drop's 90% interval on the {results['val_images']} val images (paired bootstrap, "
        f"{RESAMPLES} resamples), against issue 11's 0.5-point bar: " + "; ".join(
            f"{name} {describe(drop, 0.5)}" for name, drop in results["val_drop_intervals"].items()) + ".",
        "",
        "Accuracy control (selection split): " + "; ".join(
            f"{k}: {len(v.get('float_layers') or [])} layer(s) in float, budget {v.get('budget')}, met {v.get('met')}"
            for k, v in results["accuracy_control"].items()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
