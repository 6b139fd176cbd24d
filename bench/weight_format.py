"""What the faster int8 kernels cost in accuracy where the default stores uint8 weights: trained CIFAR ResNets.

On an x86 CPU without VNNI the CPU scheme stores uint8 weights (u8u8 kernels: no saturation, 8 bits, slower);
``weight_type: int8`` stores half-range int8 weights (7 bits) that run the u8s8 kernels
(``edgecv.quantize.cpu_isa``). ``bench/families_int8.py`` times both on random weights at 224x224; this bench
measures what the 7-bit weights cost on trained weights: the shared pretrained CIFAR-10 ResNets (the quantize stage's
path, ``quantize_to_onnx`` in the ``onnxruntime-cpu`` scheme), top-1 on every CIFAR-10 val image, speed ratio to FP32
at batch 1 and 32 within the same rotated rounds, on ONNX Runtime with the machine's threads.

    .venv/bin/python bench/weight_format.py                         # resnet20 and resnet56: ~10 min on 2 cores
    .venv/bin/python bench/weight_format.py --models resnet20 --rounds 5

Writes bench/results/weight_format.json (merged per model) and bench/results/weight_format.md, atomically.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import MODELS, cifar_splits, earlier_results, load, log, time_rounds, top1  # noqa: E402

from edgecv.artifacts import InputSpec, atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.data import make_loader  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.quantize.cpu_isa import int8_saturates, int8_weight_format  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_export import quantize_to_onnx  # noqa: E402
from edgecv.stages.quantize import QuantizeParams  # noqa: E402

RESULTS = REPO / "bench" / "results"
WEIGHT_TYPES = ("uint8", "int8")
"""``quantize.weight_type`` per INT8 variant; ``auto`` resolves to the first on a CPU whose u8s8 kernels saturate."""


def measure(name: str, shared: Path, train: Any, val: Any, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    model, pre = load(name, shared, train)
    spec = InputSpec(shape=(3, *pre.size))
    calibration = calibration_data(train, pre, args.calibration, 32, seed=0)
    paths = {"fp32": folder / "fp32.onnx"}
    export_onnx(model, spec, paths["fp32"], opset=17)
    formats = {}
    for weight_type in WEIGHT_TYPES:
        params = QuantizeParams(type="quantize", weight_type=weight_type)
        paths[f"int8-{weight_type}"] = folder / f"int8-{weight_type}.onnx"
        quantize_to_onnx(model, spec, calibration, "onnxruntime-cpu", paths[f"int8-{weight_type}"], params=params)
        formats[f"int8-{weight_type}"] = "/".join(int8_weight_format(weight_type, "auto", "onnxruntime-cpu"))
    batches = list(make_loader(val, pre, 500))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    accuracy = {v: round(top1(p, images, labels), 2) for v, p in paths.items()}
    log("  top-1: " + ", ".join(f"{v} {a:.2f}" for v, a in accuracy.items()))
    times = time_rounds(paths, tuple(spec.shape), [1, 32], args.rounds, {1: args.block, 32: args.block_32})
    rows = {}
    for variant in paths:
        per_round = {str(b): [round(f / v, 3) for f, v in zip(times["fp32"][b], times[variant][b], strict=True)]
                     for b in (1, 32)}
        rows[variant] = {"top1": accuracy[variant], "drop": round(accuracy["fp32"] - accuracy[variant], 2),
                         "weights": formats.get(variant, "float"),
                         "speedup": {b: round(float(np.median(r)), 3) for b, r in per_round.items()},
                         "speedup_rounds": per_round,
                         "latency_p50_ms": {str(b): round(float(np.median(times[variant][b])), 4) for b in (1, 32)}}
    return {"model": name, "input": list(spec.shape), "checkpoint": MODELS[name].checkpoint, "images": len(labels),
            "calibration_images": calibration.images, "variants": rows,
            "timing": {"rounds": args.rounds, "ort_threads": os.cpu_count(), "spinning": "off"},
            "measured": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter() - started, 1)}


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = ["# INT8 weight format on this CPU: uint8 (u8u8 kernels) vs 7-bit int8 (u8s8) (bench/weight_format.py)",
             "", f"Machine: {machine['cpu']}, {machine['threads']} ONNX Runtime threads; int8 u8s8 kernels saturate "
             f"here: {machine['int8_saturates']}. CPU scheme (the quantize stage's path), trained CIFAR-10 ResNets, "
             "top-1 on every val image; speed = FP32 p50 / variant p50 within the same round, median over rotated "
             "rounds (range in brackets).", "",
             "| model | variant | weights (type/range) | top-1 | drop | batch 1 | batch 32 |",
             "|---|---|---|---|---|---|---|"]
    for m in results["models"].values():
        for variant, r in m["variants"].items():
            spread = {b: f"{r['speedup'][b]:.2f}x ({min(r['speedup_rounds'][b]):.2f}-"
                      f"{max(r['speedup_rounds'][b]):.2f})" for b in ("1", "32")}
            lines.append(f"| {m['model']} | {variant} | {r['weights']} | {r['top1']:.2f} | {r['drop']:+.2f} | "
                         f"{spread['1']} | {spread['32']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet56", help="trained CIFAR-10 models from compress_cifar10")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")))
    parser.add_argument("--calibration", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.5, help="seconds per timed block at batch 1")
    parser.add_argument("--block-32", type=float, default=2.0, help="seconds per timed block at batch 32")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if any(MODELS.get(n) is None or MODELS[n].checkpoint is None for n in names):
        trained = ", ".join(n for n, m in MODELS.items() if m.checkpoint)
        raise SystemExit(f"--models: trained CIFAR models only ({trained})")
    train, val = cifar_splits(args.shared)
    out_json = RESULTS / "weight_format.json"
    results = earlier_results(out_json)
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": os.cpu_count(),
                          "python": platform.python_version(), "int8_saturates": int8_saturates()}
    for name in names:
        log(f"[{name}]")
        with tempfile.TemporaryDirectory() as tmp:
            results["models"][name] = measure(name, args.shared, train, val, args, Path(tmp))
        atomic_write_json(out_json, results)
        atomic_write_text(RESULTS / "weight_format.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
