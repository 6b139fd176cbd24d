"""ESPNet INT8 on a CPU whose int8 kernels saturate: full- vs half-range weights, and how a TensorRT-scheme file is
scored on the host (ONNX Runtime's int8 kernels vs op-by-op float, its exact fake quantization).

All layers INT8 (no accuracy control), the recipe's calibration frames and range estimators (percentile for the CPU
scheme, histogram for the TensorRT scheme: what accuracy control chose on selection in the recipe's run), mIoU on the
reported val frames (``recipes/camvid-espnet-int8.yaml``: 71 of 101, the other 30 are the selection split).

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet_weight_range.py

Writes bench/results/segmentation_espnet_weight_range.{json,md}, atomically.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log  # noqa: E402
from segmentation_espnet_int8 import evaluate  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.quantize.cpu_isa import cpu_flags, int8_saturates  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_export import quantize_to_onnx  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.stages.quantize import QuantizeParams  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RECIPE = REPO / "recipes" / "camvid-espnet-int8.yaml"
RESULTS = REPO / "bench" / "results"
VARIANTS = [  # name, scheme, range estimator, weight range, ONNX Runtime graph optimizations when scoring
    ("cpu-scheme full-range weights", "onnxruntime-cpu", "percentile", "full", True),
    ("cpu-scheme half-range weights", "onnxruntime-cpu", "percentile", "half", True),
    ("tensorrt-scheme scored by ORT int8 kernels", "tensorrt", "histogram", "full", True),
    ("tensorrt-scheme scored op by op in float", "tensorrt", "histogram", "full", False),
]


def miou(path: Path, loader: Any, labels: list[str], optimize: bool) -> float:
    return float(evaluate(path, loader, labels, optimize)["miou"])


def main() -> None:
    recipe = load_recipe(RECIPE)
    _, splits, pre, spec, model = preflight(recipe)
    task = get_task("segmentation")
    calibration = calibration_data(splits.train, pre, recipe.data.calibration_size, 8, recipe.data.seed, task=task)
    loader = task.loader(splits.val, pre, 8)
    folder = Path(tempfile.mkdtemp(prefix="espnet-weight-range-"))
    fp32 = folder / "fp32.onnx"
    from edgecv.export.onnx import export_onnx

    export_onnx(model, spec, fp32, opset=17)
    rows: dict[str, Any] = {"fp32": {"miou": miou(fp32, loader, splits.labels, True)}}
    log(f"fp32 {rows['fp32']}")
    built: dict[tuple[str, str, str], Path] = {}
    for name, scheme, estimator, weights, optimize in VARIANTS:
        key = (scheme, estimator, weights)
        if key not in built:
            started = time.perf_counter()
            built[key] = folder / f"{scheme}-{weights}.onnx"
            params = QuantizeParams(type="quantize", range_estimator=estimator, weight_range=weights)
            quantize_to_onnx(model, spec, calibration, scheme, built[key], params=params)
            log(f"  quantized {key} in {time.perf_counter() - started:.0f}s")
        score = miou(built[key], loader, splits.labels, optimize)
        rows[name] = {"scheme": scheme, "range_estimator": estimator, "weight_range": weights,
                      "ort_optimizations": optimize, "miou": score, "drop": round(rows["fp32"]["miou"] - score, 3)}
        log(f"{name}: {rows[name]}")
    vnni = sorted(cpu_flags() & {"avx512_vnni", "avx_vnni"})
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                           "int8_saturates": int8_saturates(), "vnni": vnni},
               "val_images": len(splits.val), "calibration_images": calibration.images, "rows": rows,
               "measured": time.strftime("%Y-%m-%d %H:%M")}
    lines = ["# ESPNet INT8 on a CPU without VNNI: weight range and host scoring", "",
             f"All layers INT8, mIoU on {len(splits.val)} reported CamVid val frames, {calibration.images} calibration "
             f"frames; int8 kernels saturate on this CPU: {results['machine']['int8_saturates']}. "
             "`bench/segmentation_espnet_weight_range.py`.", "",
             "| variant | mIoU % | drop (points) |", "|---|---|---|"]
    lines += [f"| {k} | {v['miou']:.2f} | {v.get('drop', 0):+.2f} |" for k, v in rows.items()]
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "segmentation_espnet_weight_range.json", results)
    atomic_write_text(RESULTS / "segmentation_espnet_weight_range.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
