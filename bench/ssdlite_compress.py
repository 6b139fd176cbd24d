"""SSDLite through prune + KD + INT8 (recipes/digits-ssdlite-compress.yaml): every stage's mAP, size and speed.

Reads a finished run of the recipe (its report.json and the files it lists, sha256-checked) and measures, on the
run's own val split (120 digit canvases, never used for a decision):

- per stage (trained, pruned, distilled, INT8 in the ONNX Runtime CPU scheme and in the TensorRT scheme):
  mAP@0.5:0.95 and @0.5 in torch and through ONNX Runtime (the pruned model, which the run does not export, is
  exported here the way the export stage does; the INT8 rows' torch figure is the fake-quantized model's mAP
  the quantize stage's parity check measured), MACs, parameters, ONNX size, the INT8 parity verdicts;
- ONNX Runtime CPU latency at batch 1 and 32 of the trained FP32, the pruned/distilled FP32 and the INT8 files,
  timed in the same process in rotated rounds (``compress_cifar10.time_rounds``): each ratio is the trained
  FP32 p50 over the variant's p50 within a round, the median over rounds (DESIGN: timing on 2 cores);
- each stage's wall time as the run recorded it.

    .venv/bin/python bench/ssdlite_compress.py --run runs/digits-ssdlite-compress/<id> [--rounds 7]

Writes bench/results/ssdlite_compress.json and .md, atomically. Quote ratios: milliseconds drift on this shared
machine.
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

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.evaluation import evaluate_torch  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.recipe import parse_recipe  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.safe_load import load_run_module  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402
from edgecv.validate.accuracy import evaluate_runner  # noqa: E402

RESULTS = REPO / "bench" / "results"
TORCH_STAGES = ("train", "prune", "distill")
TIMED = {"trained FP32": "trained-onnx", "pruned + KD FP32": "distilled-onnx", "INT8 CPU scheme": "int8-ort-cpu",
         "INT8 TensorRT scheme": "int8-tensorrt"}
"""Timed variant -> run artifact (the pruned and distilled FP32 graphs are the same shapes: timed once)."""


def _maps(metrics: dict[str, Any]) -> dict[str, float]:
    return {"map": round(float(metrics["map"]), 3), "map50": round(float(metrics["map50"]), 3)}


def _onnx_maps(path: Path, loader: Any, labels: list[str]) -> dict[str, float]:
    with OrtRunner(path, threads=os.cpu_count()) as runner:
        return _maps(evaluate_runner(runner, loader, labels, get_task("detection")))


def stage_rows(run: Path, report: dict[str, Any], folder: Path) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """One row per compression stage's output; and every ONNX file by artifact name (the pruned one made here)."""
    recipe = parse_recipe(report["recipe"], "report.json", run)
    _, splits, pre, spec, _ = preflight(recipe)
    task = get_task("detection")
    loader = task.loader(splits.val, pre, 32)
    onnx = {a["name"]: run / a["path"] for s in report["stages"] for a in s["outputs"] if a["format"] == "onnx"}
    opset = next(s for s in report["stages"] if s["kind"] == "export-onnx")["metrics"]["opset"]
    rows = []
    for stage in report["stages"]:
        for artifact in stage["outputs"]:
            if stage["kind"] in TORCH_STAGES:
                module = load_run_module(run / artifact["path"], artifact["sha256"])
                torch_maps = _maps(evaluate_torch(module, loader, splits.labels, task=task))
                path = onnx.get(f"{artifact['name']}-onnx")
                if path is None:  # the pruned model before KD: exported here as the export stage would
                    path = export_onnx(task.export_module(module), spec, folder / f"{artifact['name']}.onnx",
                                       opset=opset, simplify=recipe.export.simplify)
                    onnx[f"{artifact['name']}-onnx"] = path
                parity = None
            elif stage["kind"] == "quantize":
                path = onnx[artifact["name"]]
                scheme = next(s for s in stage["metrics"]["schemes"] if s["artifact"] == artifact["name"])
                p = scheme["parity"]
                torch_maps = {"map": round(p["reference_top1"], 3), "map50": None}  # fake-quantized, parity images
                parity = {"passed": p["passed"], "reason": p["reason"], "samples": p["samples"],
                          "agreement": p["top1_agreement"], "confident": p["confident_samples"],
                          "map_diff": round(p["top1_diff"], 3), "float_layers": scheme["float_layers"],
                          "accuracy_control_met": scheme.get("accuracy_control", {}).get("met")}
            else:
                continue
            rows.append({"stage": stage["stage"], "kind": stage["kind"], "artifact": artifact["name"],
                         "precision": artifact["precision"], "macs": artifact["macs"], "params": artifact["params"],
                         "onnx_mb": round(path.stat().st_size / 1e6, 3), "torch": torch_maps,
                         "onnxruntime": _onnx_maps(path, loader, splits.labels), "parity": parity})
            log(f"  {artifact['name']}: torch {torch_maps}, ONNX Runtime {rows[-1]['onnxruntime']}")
    return rows, onnx


def latency(onnx: dict[str, Path], shape: tuple[int, ...], rounds: int) -> dict[str, dict[str, Any]]:
    """Speed ratios against the trained FP32 file per batch size: median and range over the rotated rounds."""
    paths = {"fp32" if n == "trained FP32" else n: onnx[a] for n, a in TIMED.items()}
    times = time_rounds(paths, shape, [1, 32], rounds, {1: 0.5, 32: 2.0})
    out: dict[str, dict[str, Any]] = {}
    for name in paths:
        entry: dict[str, Any] = {}
        for batch in (1, 32):
            ratios = [f / t for f, t in zip(times["fp32"][batch], times[name][batch], strict=True)]
            entry[f"b{batch}"] = {"speedup": round(median(ratios), 3),
                                  "range": [round(min(ratios), 3), round(max(ratios), 3)],
                                  "p50_ms": round(median(times[name][batch]), 3)}
        out["trained FP32" if name == "fp32" else name] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a finished run of recipes/digits-ssdlite-compress.yaml")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    run = args.run.resolve()
    report = json.loads((run / "report.json").read_text())
    folder = Path(tempfile.mkdtemp(prefix="ssdlite-bench-"))
    log("mAP per stage (val split)")
    rows, onnx = stage_rows(run, report, folder)
    shape = tuple(report["stages"][0]["outputs"][0]["input"]["shape"])
    log("latency, rotated rounds")
    results = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "run": str(args.run), "rounds": args.rounds, "input": list(shape), "rows": rows,
        "latency": latency(onnx, shape, args.rounds),
        "stage_seconds": {s["stage"]: round(s["seconds"], 1) for s in report["stages"]},
        "total_seconds": round(report.get("total_seconds") or 0.0, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "ssdlite_compress.json", results)
    atomic_write_text(RESULTS / "ssdlite_compress.md", markdown(results))
    print(markdown(results))


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(results: dict[str, Any]) -> str:
    first = results["rows"][0]
    lines = [
        "# SSDLite on the digit canvases: prune + KD + INT8 (recipes/digits-ssdlite-compress.yaml)",
        "",
        f"Run `{results['run']}`; input {results['input'][1]}x{results['input'][2]}; mAP on the run's val split "
        "(decided nothing). Torch column of the INT8 rows: the fake-quantized model, from the quantize stage's "
        "parity check (mAP@0.5:0.95 on the same images).",
        "",
        "| stage | artifact | mAP torch | mAP ORT | mAP@0.5 torch | mAP@0.5 ORT | MACs | params | ONNX MB | parity |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        p = r["parity"]
        verdict = "–" if p is None else (f"{'passed' if p['passed'] else 'FAILED'}: {p['agreement']:.4f} of "
                                         f"{p['confident']} confident detections, mAP {p['map_diff']:+.2f}; "
                                         f"{len(p['float_layers'])} layer(s) float")
        lines.append(
            f"| {r['stage']} | {r['artifact']} | {_num(r['torch']['map'])} | {_num(r['onnxruntime']['map'])} | "
            f"{_num(r['torch']['map50'])} | {_num(r['onnxruntime']['map50'])} | {r['macs'] / first['macs']:.1%} | "
            f"{r['params'] / first['params']:.1%} | {r['onnx_mb']:.3f} | {verdict} |")
    lines += [
        "",
        f"ONNX Runtime CPU, {results['machine']['cpu_count']} threads (load average "
        f"{results['machine']['load_average'][0]} after timing), {results['rounds']} rotated rounds in one "
        "process; speed = trained FP32 p50 / variant p50 within a round, median (range). The TensorRT-scheme file "
        "is for the Jetsons; ONNX Runtime's time for it says nothing about TensorRT.",
        "",
        "| variant | batch 1 | batch 32 |",
        "|---|---|---|",
    ]
    for name, entry in results["latency"].items():
        cells = [f"{entry[b]['speedup']:.2f}x ({entry[b]['range'][0]:.2f}-{entry[b]['range'][1]:.2f})"
                 for b in ("b1", "b32")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += ["", "Stage wall times (s, as the run recorded them): " + ", ".join(
        f"{k} {v}" for k, v in results["stage_seconds"].items()) + f"; total {results['total_seconds']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
