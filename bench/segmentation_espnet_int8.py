"""ESPNet on CamVid (a user's own segmenter): edgecv INT8 with accuracy control against the peers' defaults, mIoU and
batch-1 speed in one run.

Takes a finished run of ``recipes/camvid-espnet-int8.yaml`` (FP32 export; INT8 in the ONNX Runtime CPU scheme and
the TensorRT scheme; range estimator and float layers chosen until mIoU is within 0.5 point of FP32 on the recipe's
selection split, 30 val frames held out) and adds, on the same network and the same calibration frames (the run's 64
train frames, seeded):

- ``nncf-defaults``: plain ``nncf.quantize`` of the network (no BatchNorm folding, NNCF's presets);
- ``ort-static-defaults``: ONNX Runtime ``quantize_static`` with its defaults on the FP32 ONNX.

Per variant: mIoU and pixel accuracy on the reported val frames (the 71 not held out; never used for a decision),
and on the selection frames for reference, through ONNX
Runtime, ONNX size, and ONNX Runtime CPU latency p50 at batch 1 with the ratio to FP32 taken within each rotated
round (DESIGN: timing on 2 cores); for each INT8 file, the ops ONNX Runtime still runs in float (ort_fusion).

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet_int8.py --run runs/camvid-espnet-int8/<id>

Writes bench/results/segmentation_espnet_int8.json and .md, atomically. ``--fp32 A.onnx --int8 B.onnx`` instead
measures just those two files the same way (val mIoU, rotated-round batch-1 ratio, float ops) and writes
``segmentation_espnet_int8_partial.{json,md}``: for an INT8 file taken before accuracy control finished.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log, median, time_rounds  # noqa: E402
from peers import nncf_defaults, ort_defaults  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_graph import ort_fusion  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RECIPE = REPO / "recipes" / "camvid-espnet-int8.yaml"
RESULTS = REPO / "bench" / "results"


def evaluate(path: Path, loader: Any, labels: list[str], optimize: bool | None = None) -> dict[str, Any]:
    """mIoU, pixel accuracy and per-class IoU of an ONNX file through ONNX Runtime (``optimize``: OrtRunner's;
    by default a TensorRT-form graph runs op by op in float, its exact fake quantization). The ESPNet benches'
    one scorer."""
    from edgecv.validate.accuracy import evaluate_runner

    with OrtRunner(path, threads=os.cpu_count(), optimize=optimize) as runner:
        metrics = evaluate_runner(runner, loader, labels, get_task("segmentation"))
    return {"miou": round(float(metrics["miou"]), 3), "pixel_accuracy": round(float(metrics["pixel_accuracy"]), 3),
            "per_class_iou": {c: v.get("iou") for c, v in metrics["per_class"].items()}}


def float_ops(path: Path) -> dict[str, Any]:
    """What ONNX Runtime runs in float in an INT8 file (its optimized graph), for the speed explanation."""
    fusion = ort_fusion(path)
    return {k: v for k, v in fusion.items() if k.startswith("QLinear") or k in ("convs", "float_convs", "float_ops",
                                                                                 "qdq", "layout")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished run of recipes/camvid-espnet-int8.yaml")
    parser.add_argument("--fp32", type=Path, help="with --int8 instead of --run: compare two ONNX files only")
    parser.add_argument("--int8", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.run is None:
        if args.fp32 is None or args.int8 is None:
            parser.error("give --run, or both --fp32 and --int8")
        return pair(args.fp32, args.int8, args.rounds)
    report = json.loads((args.run / "report.json").read_text())
    artifacts = {a["name"]: Path(a["path"]) if Path(a["path"]).is_absolute() else args.run / a["path"]
                 for a in report["artifacts"] if a["format"] == "onnx"}
    recipe = load_recipe(RECIPE)
    _, splits, pre, spec, model = preflight(recipe)
    task = get_task("segmentation")
    calibration = calibration_data(splits.train, pre, recipe.data.calibration_size, 8, recipe.data.seed, task=task)
    folder = Path(tempfile.mkdtemp(prefix="espnet-bench-"))
    paths = {"fp32": artifacts["original-onnx"], "edgecv-int8-ort-cpu": artifacts["int8-ort-cpu"],
             "edgecv-int8-tensorrt-scheme": artifacts["int8-tensorrt"],
             "nncf-defaults": folder / "nncf-defaults.onnx", "ort-static-defaults": folder / "ort-defaults.onnx"}
    log("building the peers")
    nncf_defaults(model, calibration, spec, paths["nncf-defaults"], task)
    ort_defaults(paths["fp32"], calibration, paths["ort-static-defaults"])
    rows, _ = measure(paths, args.rounds)
    stage = next(s for s in report["stages"] if s["kind"] == "quantize")
    control = {s["scheme"]: {**s.get("accuracy_control", {}), "range_estimator": s.get("range_estimator"),
                             "range_estimators_tried": s.get("range_estimators_tried")}
               for s in stage["metrics"]["schemes"]}
    results = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "run": str(args.run), "val_images": len(splits.val), "selection_images": len(splits.selection),
        "calibration_images": calibration.images, "rounds": args.rounds, "rows": rows,
        "selection_source": report.get("data", {}).get("selection") or splits.selection_source,
        "accuracy_control": {k: {f: v.get(f) for f in ("budget", "reference", "met", "float_layers", "samples",
                                                        "trials", "final", "selection_noise", "range_estimator",
                                                        "range_estimators_tried")} for k, v in control.items()},
        "quantize_seconds": stage.get("seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "segmentation_espnet_int8.json", results)
    atomic_write_text(RESULTS / "segmentation_espnet_int8.md", markdown(results))
    print(markdown(results))


def measure(paths: dict[str, Path], rounds: int) -> tuple[dict[str, dict[str, Any]], Any]:
    """Val mIoU, size, float ops and batch-1 latency (rotated rounds, same-round ratios) of each file."""
    recipe = load_recipe(RECIPE)
    _, splits, pre, spec, _ = preflight(recipe, with_model=False)
    val = get_task("segmentation").loader(splits.val, pre, 8)
    selection = get_task("segmentation").loader(splits.selection, pre, 8)
    rows: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        rows[name] = {**evaluate(path, val, splits.labels), "size_mb": round(path.stat().st_size / 1e6, 3),
                      "selection_miou": evaluate(path, selection, splits.labels)["miou"]}
        if name != "fp32":
            rows[name]["ort_fusion"] = float_ops(path)
        log(f"  {name}: mIoU {rows[name]['miou']}")
    times = time_rounds(paths, spec.shape, [1], rounds, {1: 3.0})
    for name in paths:
        ratios = [f / t for f, t in zip(times["fp32"][1], times[name][1], strict=True)]
        rows[name]["p50_ms_b1"] = round(median(times[name][1]), 3)
        rows[name]["speedup_b1"] = round(median(ratios), 3)
        rows[name]["speedup_b1_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return rows, splits


def pair(fp32: Path, int8: Path, rounds: int) -> None:
    """FP32 vs one INT8 file (see the module docstring)."""
    rows, splits = measure({"fp32": fp32, "int8": int8}, rounds)
    results = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
               "files": {"fp32": str(fp32), "int8": str(int8)}, "val_images": len(splits.val), "rounds": rounds,
               "rows": rows}
    text = markdown({**results, "selection_images": len(splits.selection), "calibration_images": "the run's",
                     "accuracy_control": {}}).replace("edgecv INT8 (accuracy control on mIoU) vs the peers' defaults",
                                                       "FP32 vs one INT8 file")
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "segmentation_espnet_int8_partial.json", results)
    atomic_write_text(RESULTS / "segmentation_espnet_int8_partial.md", text)
    print(text)


def markdown(results: dict[str, Any]) -> str:
    rows, fp32 = results["rows"], results["rows"]["fp32"]
    lines = [
        "# ESPNet on CamVid: edgecv INT8 (accuracy control on mIoU) vs the peers' defaults",
        "",
        f"mIoU on the {results['val_images']} reported val frames at 360x480 ("
        + (f"the {results['selection_images']} selection frames decided accuracy control's range estimator and "
           "float layers; "
           f"{results['calibration_images']} train frames calibrated every variant" if results["accuracy_control"]
           else "no decision used them") + "); ONNX Runtime CPU, batch 1, "
        f"{results['rounds']} rotated rounds, speed-up = FP32 p50 / variant p50 within a round (median, range). "
        "`bench/segmentation_espnet_int8.py`, 2 CPU cores shared with other jobs.",
        "",
        "| variant | mIoU % | drop (points) | pixel acc. % | selection mIoU % | size MB | p50 ms b1 | speed-up b1 "
        "(range) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        low, high = row["speedup_b1_range"]
        lines.append(f"| {name} | {row['miou']:.2f} | {fp32['miou'] - row['miou']:+.2f} | "
                     f"{row['pixel_accuracy']:.2f} | {row.get('selection_miou', float('nan')):.2f} | "
                     f"{row['size_mb']:.3f} | {row['p50_ms_b1']:.1f} | "
                     f"{row['speedup_b1']:.2f}x ({low:.2f}-{high:.2f}) |")
    if results["accuracy_control"]:
        lines += ["", f"Accuracy control (selection split: {results.get('selection_source')}; mIoU %):"]
    for scheme, c in results["accuracy_control"].items():
        trials = ", ".join(f"{t['float_layers']} float: {t['score']:.2f}" for t in c.get("trials") or [])
        tried = (c.get("range_estimators_tried") or {}).get("selection_scores") or {}
        ranges = ", ".join(f"{k} {v:.2f}" for k, v in tried.items())
        noise = c.get("selection_noise") or {}
        lines.append(f"- {scheme}: FP32 {c.get('reference')}, budget {c.get('budget')}, met {c.get('met')}; "
                     f"range estimator {c.get('range_estimator')} (all-INT8: {ranges or 'only one tried'}); "
                     f"{len(c.get('float_layers') or [])} layer(s) in float ({', '.join(c.get('float_layers') or [])})"
                     f"; trials {trials}; final {c.get('final')}; drop's 90% interval on selection "
                     f"{noise.get('interval90')} (paired bootstrap, {noise.get('images')} frames)")
    lines += ["", "What ONNX Runtime runs in float in each INT8 file (its optimized graph):"]
    lines += [f"- {name}: {row['ort_fusion']}" for name, row in rows.items() if "ort_fusion" in row]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
