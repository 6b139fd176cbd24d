"""ESPNet INT8 by quantization-aware training (``recipes/camvid-espnet-qat-int8.yaml``) against FP32 and PTQ.

Runs the recipe (or reads a finished run with ``--run``) and tabulates, per quantization scheme: val mIoU on the 71
reported CamVid frames (the run's validate stage, through ONNX Runtime; the TensorRT-scheme file op by op in float,
its exact fake quantization), the drop against the FP32 file, the ONNX file's mIoU on the 30 selection frames, the
weight range, and the QAT epochs with their selection mIoU (the fake-quantized torch model; the best epoch is
kept). The PTQ figures are not re-run: they are cited from bench/results/segmentation_espnet_int8.json (accuracy
control) and segmentation_espnet_weight_range.json (every layer INT8), measured on the same frames.

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet_qat.py [--run RUN_DIR]

Writes bench/results/segmentation_espnet_qat.{json,md}, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log  # noqa: E402
from segmentation_espnet_int8 import evaluate  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RECIPE = REPO / "recipes" / "camvid-espnet-qat-int8.yaml"
RESULTS = REPO / "bench" / "results"
BAR = 0.5  # the bar: INT8 within 0.5 point mIoU of FP32 on the reported frames


def selection_miou(path: Path, loader: Any, labels: list[str]) -> float:
    """mIoU of an ONNX file on the selection split (OrtRunner scores TensorRT-form graphs op by op in float)."""
    return float(evaluate(path, loader, labels)["miou"])


def ptq_figures() -> dict[str, Any]:
    """The PTQ figures already measured on the same 71 frames (cited, not re-run)."""
    int8 = json.loads((RESULTS / "segmentation_espnet_int8.json").read_text())["rows"]
    ranges = json.loads((RESULTS / "segmentation_espnet_weight_range.json").read_text())["rows"]
    fp32 = int8["fp32"]["miou"]

    def row(miou: float, source: str, note: str) -> dict[str, Any]:
        return {"miou": miou, "drop": round(fp32 - miou, 3), "source": source, "note": note}

    return {
        "onnxruntime-cpu": [
            row(int8["edgecv-int8-ort-cpu"]["miou"], "segmentation_espnet_int8.json",
                "accuracy control, percentile, every layer INT8, full-range weights"),
            row(ranges["cpu-scheme half-range weights"]["miou"], "segmentation_espnet_weight_range.json",
                "every layer INT8, percentile, half-range weights (weight_range auto on this CPU)"),
        ],
        "tensorrt": [
            row(int8["edgecv-int8-tensorrt-scheme"]["miou"], "segmentation_espnet_int8.json",
                "accuracy control, histogram, 16 layers float"),
            row(ranges["tensorrt-scheme scored op by op in float"]["miou"], "segmentation_espnet_weight_range.json",
                "every layer INT8, histogram"),
        ],
    }


def stage_recipe(report: dict[str, Any]) -> dict[str, Any]:
    """The run's own quantize stage settings (from its report, not today's recipe file)."""
    return next(s for s in report["recipe"]["stages"] if s["type"] == "quantize")


def collect(run: Path) -> dict[str, Any]:
    """The figures of a finished run, plus each ONNX file's selection mIoU."""
    report = json.loads((run / "report.json").read_text())
    paths = {a["name"]: Path(a["path"]) if Path(a["path"]).is_absolute() else run / a["path"]
             for a in report["artifacts"] if a["format"] == "onnx"}
    val = {}
    for v in report["validations"]:  # one row per artifact (the mIoU is the same on every device)
        val.setdefault(v["artifact"], v["metrics"]["miou"])
    stage = next(s for s in report["stages"] if s["kind"] == "quantize")
    _, splits, pre, _, _ = preflight(load_recipe(RECIPE), with_model=False)
    loader = get_task("segmentation").loader(splits.selection, pre, 8)
    fp32 = val["original-onnx"]
    rows: dict[str, Any] = {"fp32": {"miou": fp32, "selection_miou": selection_miou(paths["original-onnx"], loader,
                                                                                    splits.labels)}}
    for scheme in stage["metrics"]["schemes"]:
        artifact = scheme["artifact"]
        qat = scheme["qat"]
        rows[artifact] = {
            "scheme": scheme.get("scheme"), "miou": val[artifact], "drop": round(fp32 - val[artifact], 3),
            "within_bar": fp32 - val[artifact] <= BAR,
            "selection_miou": selection_miou(paths[artifact], loader, splits.labels),
            "weight_range": scheme["weight_range"], "range_estimator": scheme["range_estimator"],
            "float_layers": scheme["float_layers"], "size_mb": round(paths[artifact].stat().st_size / 1e6, 3),
            "qat_best_epoch": qat["best_epoch"], "qat_best_selection_miou": round(qat["best_score"], 3),
            "qat_start_selection_miou": None if qat.get("start_score") is None else round(qat["start_score"], 3),
            "qat_epochs": [{"epoch": h["epoch"], "selection_miou": round(h["selection"], 3),
                            "loss": round(h["loss"], 4), "seconds": round(h["seconds"], 1)} for h in qat["history"]],
            "parity": scheme["parity"]["reason"],
        }
        log(f"  {artifact}: {rows[artifact]['miou']} ({rows[artifact]['drop']:+.3f})")
    return {"run": str(run), "val_images": len(splits.val), "selection_images": len(splits.selection),
            "rows": rows,
            "qat_settings": {k: stage_recipe(report).get(k) for k in ("qat", "distill", "range_estimator")},
            "quantize_seconds": stage.get("seconds"), "run_seconds": report.get("total_seconds")}


def markdown(results: dict[str, Any]) -> str:
    rows, ptq = results["rows"], results["ptq"]
    fp32 = rows["fp32"]
    lines = ["# ESPNet INT8 by QAT (CamVid)", "",
             f"`recipes/camvid-espnet-qat-int8.yaml`, run `{results['run']}`; mIoU on {results['val_images']} "
             f"reported val frames, selection mIoU on the other {results['selection_images']} (they pick the QAT "
             f"epoch). Bar: INT8 within {BAR} point of FP32. `bench/segmentation_espnet_qat.py`.", "",
             "| model | mIoU % | vs FP32 (points) | within 0.5 | selection mIoU % (file) | weight range "
             "| QAT best epoch |",
             "|---|---|---|---|---|---|---|",
             f"| FP32 ONNX | {fp32['miou']:.2f} | | | {fp32['selection_miou']:.2f} | | |"]
    for name, r in rows.items():
        if name != "fp32":
            lines.append(f"| QAT {name} | {r['miou']:.2f} | {-r['drop']:+.2f} | {'yes' if r['within_bar'] else 'no'} "
                         f"| {r['selection_miou']:.2f} | {r['weight_range']} | {r['qat_best_epoch']} of "
                         f"{len(r['qat_epochs'])} |")
    for scheme, entries in ptq.items():
        lines += [f"| PTQ {scheme}: {e['note']} ({e['source']}) | {e['miou']:.2f} | {-e['drop']:+.2f} | "
                  f"{'yes' if e['drop'] <= BAR else 'no'} | | | |" for e in entries]
    lines += ["", "QAT epochs, selection mIoU % of the fake-quantized model (loss; seconds); epoch 0 is the PTQ "
              "model QAT starts from, which competes for the best epoch:", ""]
    for name, r in rows.items():
        if name != "fp32":
            start = r.get("qat_start_selection_miou")
            epochs = ", ".join(f"{e['selection_miou']:.2f} ({e['loss']:.3f}; {e['seconds']:.0f}s)"
                               for e in r["qat_epochs"])
            epochs = epochs if start is None else f"epoch 0 {start:.2f}, {epochs}"
            lines.append(f"- {name}: {epochs}")
    lines += ["", f"QAT settings: `{json.dumps(results['qat_settings'])}`; quantize stage "
              f"{results['quantize_seconds'] / 60:.1f} min, whole run {results['run_seconds'] / 60:.1f} min "
              f"({results['machine']['cpu_count']} cores, shared)."]
    if results.get("note"):
        lines += ["", results["note"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished run of recipes/camvid-espnet-qat-int8.yaml")
    parser.add_argument("--note", default="", help="what the figures cannot show (e.g. the load on the cores)")
    args = parser.parse_args()
    run = args.run
    if run is None:
        from edgecv.api import compress

        run = Path(compress(RECIPE).run_dir)
    results = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, **collect(run),
               "ptq": ptq_figures(), "note": args.note}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "segmentation_espnet_qat.json", results)
    atomic_write_text(RESULTS / "segmentation_espnet_qat.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
