"""ESPNet on CamVid: the all-INT8 ONNX Runtime CPU file under several activation range estimators, mIoU on the
selection split (the decision data) and on val (reported), each through ONNX Runtime.

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet_ranges.py histogram percentile

Writes bench/results/segmentation_espnet_ranges.json (estimator -> {selection, val} mIoU).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecv.artifacts import atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_export import quantize_to_onnx  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.stages.quantize import QuantizeParams  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402
from edgecv.validate.accuracy import evaluate_runner  # noqa: E402


def main() -> None:
    """mIoU per range estimator named on the command line."""
    recipe = load_recipe(REPO / "recipes" / "camvid-espnet-int8.yaml")
    _, splits, pre, spec, model = preflight(recipe)
    task = get_task("segmentation")
    calibration = calibration_data(splits.train, pre, recipe.data.calibration_size, 8, recipe.data.seed, task=task)
    out: dict[str, dict[str, float]] = {}
    folder = Path(tempfile.mkdtemp(prefix="espnet-ranges-"))
    for estimator in sys.argv[1:]:
        path = folder / f"cpu-{estimator}.onnx"
        params = QuantizeParams(type="quantize", range_estimator=estimator)
        quantize_to_onnx(model, spec, calibration, "onnxruntime-cpu", path, params=params, opset=17)
        out[estimator] = {}
        for split in ("selection", "val"):
            with OrtRunner(path, threads=2) as runner:
                metrics = evaluate_runner(runner, task.loader(getattr(splits, split), pre, 4), splits.labels, task)
            out[estimator][split] = round(float(metrics["miou"]), 3)
        print(estimator, out[estimator], flush=True)
    atomic_write_text(REPO / "bench" / "results" / "segmentation_espnet_ranges.json", json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
