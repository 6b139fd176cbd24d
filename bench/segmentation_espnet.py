"""ESPNet (the shared CamVid checkpoint, a user's own model) through edgecv: torch vs ONNX Runtime mIoU on CamVid val.

Runs ``recipes/camvid-espnet.yaml`` (load, FP32 ONNX export with parity on all 101 val images, validate) and records
torch's mIoU (the load stage, on val), ONNX Runtime's (the validate stage), the parity verdict (pixel agreement,
mIoU difference), per-class IoU, and ONNX Runtime CPU latency at batch 1. A control evaluates the same torch model
fed RGB instead of the BGR order it was trained with, to show the preprocessing in the recipe is what counts.

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet.py

Writes bench/results/segmentation_espnet.json and .md.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _rgb_control(recipe_path: Path) -> float:
    """Torch mIoU on val of the same model with channel_order RGB (what a tool ignoring the recipe would feed)."""
    from edgecv.evaluation import evaluate_torch
    from edgecv.preflight import preflight
    from edgecv.recipe import load_recipe
    from edgecv.tasks import get_task

    recipe = load_recipe(recipe_path, ["model.channel_order=RGB"])
    _, splits, pre, _, model = preflight(recipe)
    task = get_task("segmentation")
    return float(evaluate_torch(model, task.loader(splits.val, pre, 24), splits.labels, task=task)["miou"])


def main() -> None:
    from edgecv.api import compress
    from edgecv.recipe import load_recipe

    recipe_path = ROOT / "recipes" / "camvid-espnet.yaml"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = compress(load_recipe(recipe_path, [f"output={tmp}", "report.formats=[json]"]))
    seconds = time.perf_counter() - started
    load = next(s for s in report.stages if s.kind == "load")
    export = next(s for s in report.stages if s.kind == "export-onnx")
    parity = export.metrics["parity"][0]
    row = report.validations[0]
    result = {
        "model": "ESPNet p=2 q=8 (shared espnet-camvid checkpoint), 360x480, BGR, FP32",
        "data": "CamVid val (SegNet split), 101 images, 11 classes, void (11) ignored",
        "torch_miou": load.metrics["miou"], "torch_pixel_accuracy": load.metrics["pixel_accuracy"],
        "onnxruntime_miou": row.metrics["miou"], "onnxruntime_pixel_accuracy": row.metrics["pixel_accuracy"],
        "miou_diff_points": round(row.metrics["miou"] - load.metrics["miou"], 4),
        "parity": {k: parity[k] for k in ("samples", "passed", "reason", "max_abs_diff", "min_cosine",
                                          "top1_agreement", "confident_top1_agreement", "top1_diff")},
        "per_class_iou": {c: v.get("iou") for c, v in row.per_class.items()},
        "latency_ms_p50_batch1": row.latency[0].p50_ms if row.latency else None,
        "rgb_control_torch_miou": round(_rgb_control(recipe_path), 3),
        "run_seconds": round(seconds, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "segmentation_espnet.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# ESPNet on CamVid val: torch vs ONNX Runtime (FP32)", "",
             f"{result['model']}; {result['data']}. `bench/segmentation_espnet.py`, 2 shared CPU cores.", "",
             "| runtime | mIoU % | pixel accuracy % |", "|---|---|---|",
             f"| torch | {result['torch_miou']:.3f} | {result['torch_pixel_accuracy']:.3f} |",
             f"| ONNX Runtime (exported FP32 ONNX) | {result['onnxruntime_miou']:.3f} | "
             f"{result['onnxruntime_pixel_accuracy']:.3f} |", "",
             f"- mIoU difference: {result['miou_diff_points']:+.3f} points (acceptance: within 0.1).",
             f"- Parity on all {parity['samples']} images: {parity['reason']}; max |logit diff| "
             f"{parity['max_abs_diff']:.2e}.",
             f"- Same model fed RGB instead of BGR (control): torch mIoU {result['rgb_control_torch_miou']:.3f}.",
             f"- ONNX Runtime CPU latency p50, batch 1: {result['latency_ms_p50_batch1']:.1f} ms.", "",
             "| class | IoU % |", "|---|---|"]
    lines += [f"| {c} | {'–' if v is None else f'{v:.2f}'} |" for c, v in result["per_class_iou"].items()]
    (RESULTS / "segmentation_espnet.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
