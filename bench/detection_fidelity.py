"""FastestDet INT8 through the torch path and through the ONNX path: how close each file's outputs stay to its FP32
graph on every COCO128 image, a measure that needs no labels and moves far less than mAP on 73 images.

mAP@0.5:0.95 on COCO128's 73 val images has a 90% interval about 2 points wide for an INT8 drop (``val_noise.py``),
so two INT8 files 1 point apart there may be equally good. This compares each INT8 file's decoded outputs with its
own FP32 graph's on all 128 images (the same preprocessed inputs for both paths): normalized mean squared error of
the class scores and of the boxes (lower is closer).

    .venv/bin/python bench/detection_fidelity.py --torch-run runs/coco128-fastestdet/<id> \\
        --onnx-run runs/coco128-fastestdet-onnx/<id> [--torch-all-int8-run RUN] [--onnx-all-int8-run RUN]

(the ``--*-all-int8-run`` runs: the same recipes with ``--set stages.0.max_accuracy_drop=null``).

Writes bench/results/detection_fidelity.json and .md, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RESULTS = REPO / "bench" / "results"
RECIPES = {"torch": REPO / "recipes" / "coco128-fastestdet.yaml",
           "onnx": REPO / "recipes" / "coco128-fastestdet-onnx.yaml"}


def images(recipe: Path) -> list[np.ndarray]:
    """Every image of ``data.val`` (its selection and reported splits: these recipes have no train data, their
    calibration images are the selection ones), preprocessed as the recipe says."""
    task = get_task("detection")
    _, splits, pre, _, _ = preflight(load_recipe(recipe), with_model=False)
    every = torch.utils.data.ConcatDataset([splits.selection, splits.val])
    return [x.numpy() for x, _ in task.loader(every, pre, 1)]


def outputs(path: Path, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    with OrtRunner(path, threads=os.cpu_count()) as runner:
        per = [runner.infer_all(x) for x in inputs]
    return {name: np.concatenate([o[name].ravel() for o in per]) for name in per[0]}


def nmse(candidate: np.ndarray, reference: np.ndarray) -> float:
    return round(float(((candidate - reference) ** 2).mean() / max(float((reference**2).mean()), 1e-30)), 6)


def artifacts(run: Path) -> dict[str, Path]:
    report = json.loads((run / "report.json").read_text())
    return {a["name"]: run / a["path"] for a in report["artifacts"] if a["format"] == "onnx"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-run", type=Path, required=True)
    parser.add_argument("--torch-all-int8-run", type=Path, default=None)
    parser.add_argument("--onnx-run", type=Path, required=True)
    parser.add_argument("--onnx-all-int8-run", type=Path, default=None)
    args = parser.parse_args()
    torch_files, onnx_files = artifacts(args.torch_run), artifacts(args.onnx_run)
    variants = {
        "torch": ("original-onnx", {"CPU scheme, accuracy control": torch_files["int8-ort-cpu"],
                                    "TensorRT scheme, accuracy control": torch_files["int8-tensorrt"]}),
        "onnx": ("original", {"CPU scheme, accuracy control": onnx_files["int8-ort-cpu"],
                              "TensorRT scheme, accuracy control": onnx_files["int8-tensorrt"]}),
    }
    for kind, run in (("torch", args.torch_all_int8_run), ("onnx", args.onnx_all_int8_run)):
        every = artifacts(run) if run is not None else {}
        schemes = (("CPU scheme", "int8-ort-cpu"), ("TensorRT scheme", "int8-tensorrt"))
        variants[kind][1].update({f"{scheme}, every layer INT8": every[name] for scheme, name in schemes
                                  if name in every})
    inputs = {path: images(recipe) for path, recipe in RECIPES.items()}
    rows = []
    for path_kind, (fp32_name, files) in variants.items():
        fp32 = outputs((torch_files if path_kind == "torch" else onnx_files)[fp32_name], inputs[path_kind])
        for label, file in files.items():
            out = outputs(file, inputs[path_kind])
            rows.append({"path": path_kind, "variant": label, "file": str(file),
                         "scores_nmse": nmse(out["scores"], fp32["scores"]),
                         "boxes_nmse": nmse(out["boxes"], fp32["boxes"])})
            print(rows[-1])
    same = all(np.array_equal(a, b) for a, b in zip(inputs["torch"], inputs["onnx"], strict=True))
    results = {"images": len(inputs["torch"]), "same_inputs": same, "rows": rows}
    atomic_write_json(RESULTS / "detection_fidelity.json", results)
    atomic_write_text(RESULTS / "detection_fidelity.md", markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = ["# FastestDet INT8 output fidelity, torch path vs ONNX path (bench/detection_fidelity.py)", "",
             f"Each INT8 file against its own FP32 graph on all {results['images']} COCO128 images (the same "
             f"preprocessed inputs for both paths: {results['same_inputs']}); NMSE = mean squared difference / mean "
             "square of FP32's output (lower is closer). No labels: this moves far less than mAP on 73 images.", "",
             "| path | variant | scores NMSE | boxes NMSE |", "|---|---|---|---|"]
    lines += [f"| {r['path']} | {r['variant']} | {r['scores_nmse']:.4f} | {r['boxes_nmse']:.5f} |"
              for r in results["rows"]]
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    main()
