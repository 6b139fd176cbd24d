"""ESPNet on CamVid pruned to <= 60% of the MACs, distilled, then INT8: MACs, size, val mIoU and batch-1 speed.

Reads a finished run of ``recipes/camvid-espnet-prune-kd-int8.yaml`` and measures four files in one process:

- ``original-fp32``: the unpruned ESPNet's FP32 export;
- ``pruned-fp32``: the prune stage's model (BatchNorm re-estimated, before KD), exported here at the run's opset;
- ``pruned-kd-fp32``: the distilled model's FP32 export;
- ``pruned-kd-int8``: its INT8 file in the ONNX Runtime CPU scheme.

Per file: MACs and parameters (of the torch model it came from), ONNX size, mIoU on the 101 reported val frames
through ONNX Runtime (decides nothing; the run's validate stage measured it for its own artifacts, this bench for
the pruned export unless ``--reevaluate``), and ONNX Runtime CPU p50 at batch 1 with the speed-up over the original
taken within each rotated round (DESIGN: timing on 2 cores; ``compress_cifar10.time_rounds``).

    EDGECV_SHARED=/path/to/shared .venv/bin/python bench/segmentation_espnet_prune.py --run runs/<name>/<id>

Writes bench/results/segmentation_espnet_prune.json and .md, atomically.
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
from segmentation_espnet_int8 import evaluate  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.model_stats import count_macs, count_params  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.recipe import load_recipe  # noqa: E402
from edgecv.safe_load import load_run_module  # noqa: E402
from edgecv.tasks import get_task  # noqa: E402

RECIPE = REPO / "recipes" / "camvid-espnet-prune-kd-int8.yaml"
RESULTS = REPO / "bench" / "results"


def run_path(run: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else run / path


def stage(report: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["kind"] == kind)


def files(run: Path, report: dict[str, Any], folder: Path, spec: Any) -> tuple[dict[str, Path], dict[str, Any]]:
    """The four ONNX files and the torch models they came from (MACs, params)."""
    prune, distill = stage(report, "prune")["outputs"][0], stage(report, "distill")["outputs"][0]
    exports = [a for s in report["stages"] if s["kind"] == "export-onnx" for a in s["outputs"]]
    onnx = {a["name"]: a for a in report["artifacts"] if a["format"] == "onnx"}
    int8 = next(a for a in onnx.values() if a["precision"] in ("int8", "mixed"))
    pruned = load_run_module(run_path(run, prune["path"]), prune["sha256"])
    kd = load_run_module(run_path(run, distill["path"]), distill["sha256"])
    opset = int(exports[-1].get("opset") or 17)
    paths = {"original-fp32": run_path(run, onnx["original-onnx"]["path"]),
             "pruned-fp32": export_onnx(pruned, spec, folder / "pruned.onnx", opset=opset),
             "pruned-kd-fp32": run_path(run, exports[-1]["path"]),
             "pruned-kd-int8": run_path(run, int8["path"])}
    return paths, {"pruned-fp32": pruned, "pruned-kd-fp32": kd, "pruned-kd-int8": kd}


def run_miou(report: dict[str, Any], paths: dict[str, Path]) -> dict[str, float]:
    """Val mIoU the run's validate stage measured (host-cpu, ONNX Runtime) for the files that are run artifacts."""
    by_path = {str(path.resolve()): name for name, path in paths.items()}
    run = Path(report["run_dir"])
    artifacts = {a["name"]: str(run_path(run, a["path"]).resolve()) for a in report["artifacts"]}
    found = {}
    for row in report["validations"]:
        name = by_path.get(artifacts.get(row["artifact"], ""))
        if name is not None and row["device"] == "host-cpu" and row["metrics"].get("miou") is not None:
            found[name] = round(float(row["metrics"]["miou"]), 3)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run of the recipe")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reevaluate", action="store_true", help="evaluate every file here, not only the pruned")
    args = parser.parse_args()
    report = json.loads((args.run / "report.json").read_text())
    _, splits, pre, spec, original = preflight(load_recipe(RECIPE))
    paths, models = files(args.run, report, Path(tempfile.mkdtemp(prefix="espnet-prune-")), spec)
    models["original-fp32"] = original
    val = get_task("segmentation").loader(splits.val, pre, 8)
    validated = run_miou(report, paths)
    rows: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        model = models[name]
        rows[name] = {"macs_g": round(count_macs(model, spec.shape) / 1e9, 4), "params": count_params(model),
                      "size_mb": round(path.stat().st_size / 1e6, 3)}
        if name in validated and not args.reevaluate:  # the run's validate stage: ONNX Runtime on the same val
            rows[name].update(miou=validated[name], miou_source="run validate stage (ONNX Runtime)")
        else:
            rows[name].update(**evaluate(path, val, splits.labels), miou_source="this bench (ONNX Runtime)")
        log(f"  {name}: mIoU {rows[name]['miou']}")
    timed = {("fp32" if name == "original-fp32" else name): path for name, path in paths.items()}  # time_rounds' key
    times = time_rounds(timed, spec.shape, [1], args.rounds, {1: 3.0})
    times["original-fp32"] = times.pop("fp32")
    for name in paths:
        ratios = [f / t for f, t in zip(times["original-fp32"][1], times[name][1], strict=True)]
        rows[name].update(p50_ms_b1=round(median(times[name][1]), 3), speedup_b1=round(median(ratios), 3),
                          speedup_b1_range=[round(min(ratios), 3), round(max(ratios), 3)])
    distill = stage(report, "distill")
    results = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, "run": str(args.run),
               "val_images": len(splits.val), "selection_images": len(splits.selection), "rounds": args.rounds,
               "recipe": report["recipe"]["stages"], "prune": {k: stage(report, "prune")["metrics"].get(k) for k in
                                                                ("macs_fraction", "params_fraction", "round_to",
                                                                 "rounds")},
               "distill_seconds": distill.get("seconds"), "distill_history": distill["metrics"].get("history"),
               "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "segmentation_espnet_prune.json", results)
    atomic_write_text(RESULTS / "segmentation_espnet_prune.md", markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    rows, base = results["rows"], results["rows"]["original-fp32"]
    lines = [
        "# ESPNet on CamVid: pruned to <= 60% MACs, KD-fine-tuned, INT8 (ONNX Runtime CPU scheme)",
        "",
        f"mIoU on the {results['val_images']} reported val frames at 360x480 through ONNX Runtime (the "
        f"{results['selection_images']} selection frames chose the KD epoch); ONNX Runtime CPU, batch 1, "
        f"{results['rounds']} rotated rounds, speed-up = original p50 / file p50 within a round (median, range). "
        f"Run `{results['run']}`, `bench/segmentation_espnet_prune.py`, 2 CPU cores shared with other jobs.",
        "",
        "| file | GMACs | params | ONNX MB | mIoU % | drop (points) | p50 ms b1 | speed-up b1 (range) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        low, high = row["speedup_b1_range"]
        lines.append(f"| {name} | {row['macs_g']:.3f} | {row['params']:,} | {row['size_mb']:.3f} | {row['miou']:.2f} | "
                     f"{base['miou'] - row['miou']:+.2f} | {row['p50_ms_b1']:.1f} | {row['speedup_b1']:.2f}x "
                     f"({low:.2f}-{high:.2f}) |")
    history = results.get("distill_history") or []
    if history:
        lines += ["", f"KD ({len(history)} epochs, {results['distill_seconds'] or 0:.0f} s): selection mIoU by epoch "
                  + ", ".join(f"{h['selection']:.2f}" for h in history)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
