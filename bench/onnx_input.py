"""A user's ONNX model as input (``model.onnx``) against the torch path on the same data, in one run.

1. Classification: the shared CIFAR-10 ResNet20 through ``recipes/cifar10-resnet20-int8.yaml`` (the torch path:
   checkpoint -> NNCF torch PTQ), then its exported FP32 ONNX given back as ``model.onnx`` with the same data and
   stage (NNCF ONNX PTQ): FP32 and INT8 top-1 on val.tar per scheme, and the difference.
2. Detection: the FastestDet author's own ONNX export through ``recipes/coco128-fastestdet-onnx.yaml`` (or a
   finished run of it, ``--detection-run``): FP32 mAP next to the torch path's figure, INT8 mAP per scheme, and
   ONNX Runtime CPU latency at batch 1, INT8 vs FP32 as a ratio within each of 5 rotated rounds.

    .venv/bin/python bench/onnx_input.py [--detection-run runs/coco128-fastestdet-onnx/<id>]

Writes bench/results/onnx_input.json and .md, atomically. Val split numbers decided nothing (accuracy control and
calibration use the train/selection splits).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log, median, time_rounds  # noqa: E402
from val_noise import RESAMPLES, describe, val_drop_intervals  # noqa: E402

from edgecv.api import compress  # noqa: E402
from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.report.schema import Report  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RESULTS = REPO / "bench" / "results"
FAST = ["validate.devices=[host-cpu, jetson-orin-nano-8gb]", "validate.batch_sizes=[1]", "validate.runs=10",
        "report.formats=[json]"]


def _rows(report: Report) -> dict[str, dict[str, Any]]:
    """Each artifact's metrics (measured here on ONNX Runtime, whichever device it targets)."""
    return {v.artifact: v.metrics for v in report.validations}


def classification(output: Path) -> dict[str, Any]:
    """ResNet20 INT8 through the torch path and through the ONNX path; top-1 per scheme."""
    recipe = REPO / "recipes" / "cifar10-resnet20-int8.yaml"
    log("ResNet20, torch path")
    torch_run = compress(load_recipe(recipe, [*FAST, f"output={output / 'torch'}"]))
    exported = next(a for s in torch_run.stages if s.kind == "export-onnx" for a in s.outputs)
    overrides = [*FAST, f"output={output / 'onnx'}", f"model={{onnx: {exported.path}, "
                 f"mean: {list(exported.preprocessing.mean)}, std: {list(exported.preprocessing.std)}}}"]
    log("ResNet20, ONNX path")
    onnx_run = compress(load_recipe(recipe, overrides))
    by_torch, by_onnx = _rows(torch_run), _rows(onnx_run)
    rows = []
    for torch_name, onnx_name in ((exported.name, "original"), ("int8-ort-cpu", "int8-ort-cpu"),
                                  ("int8-tensorrt", "int8-tensorrt")):
        t, o = by_torch[torch_name]["top1"], by_onnx[onnx_name]["top1"]
        rows.append({"artifact": onnx_name, "torch_path_top1": t, "onnx_path_top1": o, "diff": round(o - t, 3)})
    return {"model": "cifar10-resnet20 (shared checkpoint)", "val_images": 5000, "rows": rows,
            "acceptance": {"criterion": "|INT8 top-1, ONNX path - torch path| <= 0.3 point, both schemes",
                           "met": all(abs(r["diff"]) <= 0.3 for r in rows[1:])}}


def detection(run: Path | None, output: Path) -> dict[str, Any]:
    """FastestDet from its author's ONNX: mAP per artifact and the INT8/FP32 latency ratio at batch 1."""
    if run is None:
        log("FastestDet from its ONNX export")
        report = compress(load_recipe(REPO / "recipes" / "coco128-fastestdet-onnx.yaml",
                                      [f"output={output / 'detection'}", "report.formats=[json]"]))
    else:
        report = Report.model_validate_json((run / "report.json").read_text())
    root = Path(report.run_dir)
    paths = {a.name: root / a.path for s in report.stages for a in s.outputs if a.format == "onnx"}
    maps = {v.artifact: {"map": v.metrics["map"], "map50": v.metrics["map50"]} for v in report.validations}
    quantize = next(s for s in report.stages if s.kind == "quantize")
    float_layers = {s["artifact"]: len(s["float_layers"]) for s in quantize.metrics["schemes"]}
    timed = {"fp32": paths["original"], "int8-ort-cpu": paths["int8-ort-cpu"]}
    times = time_rounds(timed, (3, 352, 352), [1], 5, {1: 1.5})
    ratios = [f / q for f, q in zip(times["fp32"][1], times["int8-ort-cpu"][1], strict=True)]
    fp32 = maps["original"]["map"]
    recipe = load_recipe(REPO / "recipes" / "coco128-fastestdet-onnx.yaml")
    _, splits, pre, _, _ = preflight(recipe, with_model=False)
    task = get_task("detection")
    drops = val_drop_intervals(task, splits.labels, task.loader(splits.val, pre, 1), paths["original"],
                               {k: paths[k] for k in ("int8-ort-cpu", "int8-tensorrt")})
    return {
        "model": "FastestDet, the author's fastestdet-coco.onnx (opset 11, fixed batch 1)", "val_images": 73,
        "torch_path_fp32_map": 18.58, "map": maps, "float_layers": float_layers,
        "drop": {k: round(fp32 - v["map"], 3) for k, v in maps.items() if k != "original"},
        "val_drop_intervals": drops,
        "latency_ms_b1": {k: median(v[1]) for k, v in times.items()},
        "int8_speedup_b1": {"median": median(ratios), "min": min(ratios), "max": max(ratios)},
        "acceptance": {"fp32_equal_to_torch_path": abs(fp32 - 18.58) <= 0.1,
                       "int8_within_0.5": {k: fp32 - v["map"] <= 0.5 for k, v in maps.items() if k != "original"},
                       "int8_1.5x_faster_b1": median(ratios) >= 1.5},
    }


def markdown(results: dict[str, Any]) -> str:
    c, d = results["classification"], results["detection"]
    lines = ["# A user's ONNX model as input (model.onnx) vs the torch path", "",
             f"Machine: {results['machine']}; one run; latency ratios within rotated rounds.", "",
             f"## {c['model']}, top-1 on val.tar ({c['val_images']} images)", "",
             "| artifact | torch path | ONNX path | diff |", "|---|---|---|---|"]
    lines += [f"| {r['artifact']} | {r['torch_path_top1']:.2f} | {r['onnx_path_top1']:.2f} | {r['diff']:+.2f} |"
              for r in c["rows"]]
    lines += ["", f"Acceptance ({c['acceptance']['criterion']}): {'met' if c['acceptance']['met'] else 'NOT met'}.",
              "", f"## {d['model']}, COCO128 val ({d['val_images']} images)", "",
              "| artifact | mAP@0.5:0.95 | mAP@0.5 | layers kept float | drop vs FP32 |", "|---|---|---|---|---|"]
    for name, m in d["map"].items():
        lines.append(f"| {name} | {m['map']:.2f} | {m['map50']:.2f} | {d['float_layers'].get(name, 0)} | "
                     f"{d['drop'].get(name, 0.0):+.2f} |")
    s = d["int8_speedup_b1"]
    lines += ["", f"FP32 through the torch path on the same images: {d['torch_path_fp32_map']:.2f}. ONNX Runtime CPU "
              f"batch 1: FP32 {d['latency_ms_b1']['fp32']:.2f} ms, INT8 {d['latency_ms_b1']['int8-ort-cpu']:.2f} ms; "
              f"INT8 speed-up median {s['median']:.2f}x (range {s['min']:.2f}-{s['max']:.2f}).", "",
              f"Acceptance: {json.dumps(d['acceptance'])}", ""]
    if "val_drop_intervals" in d:
        lines[-1:-1] = [f"The drop's 90% interval on the {d['val_images']} val images (paired bootstrap, {RESAMPLES} "
                        "resamples) against the 0.5-point bar: " + "; ".join(
                            f"{k} {describe(v, 0.5)}" for k, v in d["val_drop_intervals"].items()) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detection-run", type=Path, default=None)
    parser.add_argument("--classification-json", type=Path, default=None,
                        help="Reuse the classification part of an earlier results JSON instead of running it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-onnx-input-") as scratch:
        results = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
                   "classification": json.loads(args.classification_json.read_text())["classification"]
                   if args.classification_json else classification(Path(scratch)),
                   "detection": detection(args.detection_run, Path(scratch))}
    atomic_write_json(RESULTS / "onnx_input.json", results)
    atomic_write_text(RESULTS / "onnx_input.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
