"""Is MobileNetV3's / EfficientNet's INT8 mismatch real? The same comparison with properly trained weights.

Random or briefly trained weights give near-flat logits (top-2 gap 0.05-0.10), where any rounding flips the
argmax. Here each model is trained on the CIFAR-10 JPEGs at 32x32 with edgecv's own training loop
(``edgecv.training.train_model``: SGD, cosine schedule, crop-flip augmentation, best epoch on the selection split)
until its logits are not flat, then quantized with edgecv's CPU scheme (the quantize stage's path) and, with
``--before``, with the scheme before issue 10. Reported per model: FP32 top-1, INT8 top-1, top-1 agreement and
cosine of the INT8 ONNX with its fake-quantized torch model and with FP32 on the 10,000 val images, the logits'
flatness, and the INT8 speed ratio at batch 1 and 32 (same rotated rounds).

    .venv/bin/python bench/int8_trained.py --models mobilenet_v3_small    # 12 epochs of 200 batches: ~35 min
    .venv/bin/python bench/int8_trained.py --models efficientnet_b0 --optimizer adamw --lr 0.003 --epochs 10 \
        --batches 300 --no-before --keep /tmp/trained --range-estimators percentile,histogram   # again: no training

``--keep DIR`` saves the trained weights (``DIR/<arch>.pt``, a state_dict loaded with ``weights_only``) and reuses
them when there; ``--range-estimators`` adds INT8 variants quantized with those estimators.

Writes bench/results/int8_trained.json (merged per model) and bench/results/int8_trained.md, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log, time_rounds  # noqa: E402
from families_int8 import agreement, logits_onnx, logits_torch, noise_floor, quantize  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.data import make_loader  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.preflight import preflight  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data  # noqa: E402
from edgecv.quantize.onnx_graph import ort_fusion  # noqa: E402
from edgecv.recipe import parse_recipe  # noqa: E402
from edgecv.training import train_model  # noqa: E402

RESULTS = REPO / "bench" / "results"


def recipe(arch: str, cifar: Path, args: argparse.Namespace, out: Path) -> Any:
    data = {
        "name": f"int8-trained-{arch}", "model": {"arch": arch, "input_size": 32},
        "data": {"train": str(cifar / "train.tar"), "val": str(cifar / "val.tar"), "batch_size": 128},
        "train": {"epochs": args.epochs, "lr": args.lr, "optimizer": args.optimizer, "augment": "crop-flip",
                  "warmup_epochs": 1.0, "max_batches_per_epoch": args.batches or None},
        "validate": {"devices": ["host-cpu"]}, "output": str(out),
    }
    return parse_recipe(data, "int8_trained.yaml", REPO)


def labelled(dataset: Any, pre: Any) -> tuple[np.ndarray, np.ndarray]:
    batches = list(make_loader(dataset, pre, 250))
    return np.concatenate([x.numpy() for x, _ in batches]), np.concatenate([y.numpy() for _, y in batches])


def measure(arch: str, cifar: Path, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    rec = recipe(arch, cifar, args, folder / "runs")
    _, splits, pre, spec, model = preflight(rec)
    torch.set_num_threads(args.torch_threads)  # 2 threads ran 10x slower than 1 on this loaded machine
    kept = args.keep / f"{arch}.pt" if args.keep else None
    best_epoch = None
    if kept is not None and kept.is_file():  # trained by an earlier run with --keep: weights only, no code
        model.load_state_dict(torch.load(kept, map_location="cpu", weights_only=True))
        log(f"  weights from {kept} (not retrained)")
    else:
        best_epoch = train_model(model, splits, pre, rec.train, workdir=folder / "train").best_epoch
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), kept)
    model.eval()
    trained = round(time.perf_counter() - started, 1)
    log(f"  trained in {trained:.0f}s")
    images, labels = labelled(splits.val, pre)
    calibration = calibration_data(splits.train, pre, 512, 32, seed=0)
    paths = {"fp32": folder / "fp32.onnx", "int8": folder / "int8.onnx"}
    export_onnx(model, spec, paths["fp32"], opset=17)
    fakes = {"int8": quantize(model, spec, calibration, paths["int8"], before=False)}
    if args.before:
        paths["int8-before"] = folder / "int8-before.onnx"
        fakes["int8-before"] = quantize(model, spec, calibration, paths["int8-before"], before=True)
    for estimator in [e for e in args.range_estimators.split(",") if e]:
        paths[f"int8-{estimator}"] = folder / f"int8-{estimator}.onnx"
        fakes[f"int8-{estimator}"] = quantize(model, spec, calibration, paths[f"int8-{estimator}"], before=False,
                                              range_estimator=estimator)
    fp32 = logits_onnx(paths["fp32"], images)
    times = time_rounds(paths, (3, 32, 32), [1, 32], args.rounds, {1: 0.5, 32: 2.0})
    rows = {}
    for name, fake in fakes.items():
        int8, fq = logits_onnx(paths[name], images), logits_torch(fake, images)
        fusion = ort_fusion(paths[name])
        rows[name] = {
            "top1": round(float((int8.argmax(1) == labels).mean() * 100), 2),
            "fake_quant_top1": round(float((fq.argmax(1) == labels).mean() * 100), 2),
            "vs_fake_quant": agreement(int8, fq), "vs_fp32": agreement(int8, fp32),
            "fake_quant_noise_floor": noise_floor(fake, images, fq),
            "speedup": {str(b): round(float(np.median([f / v for f, v in zip(times["fp32"][b], times[name][b],
                                                                               strict=True)])), 3) for b in (1, 32)},
            "qlinear_convs": fusion.get("QLinearConv", 0), "convs": fusion["convs"],
        }
    return {"model": arch, "input": [3, 32, 32], "epochs": args.epochs, "best_epoch": best_epoch,
            "train_seconds": trained, "val_images": len(labels),
            "fp32_top1": round(float((fp32.argmax(1) == labels).mean() * 100), 2),
            "fp32_top2_gap": agreement(fp32, fp32)["reference_top2_gap"], "variants": rows,
            "measured": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter() - started, 1)}


def markdown(results: dict[str, Any]) -> str:
    lines = ["# INT8 agreement with trained weights (bench/int8_trained.py)", "",
             "Trained on the CIFAR-10 JPEGs at 32x32 with edgecv's training loop; agreement and top-1 on the val "
             "images; gap = median top-2 logit gap / logit std (near 0: flat logits). Speed = FP32 p50 / INT8 p50 "
             "in the same rotated rounds.", "",
             "| model | training | FP32 top-1 (gap) | variant | INT8 top-1 | fake-quant top-1 | agree vs fake-quant "
             "| cosine vs fake-quant | fake-quant vs itself + 1e-4 noise | agree vs FP32 | batch 1 | batch 32 "
             "| convs fused |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in results["models"].values():
        for name, r in m["variants"].items():
            noise = r.get("fake_quant_noise_floor")
            floor = f"{noise['top1_agreement']:.4f} (cos {noise['mean_cosine']:.4f})" if noise else "–"
            t = m.get("training", {})
            how = f"{m['epochs']} x {t.get('batches_per_epoch') or 'all'} batches, {t.get('optimizer')} {t.get('lr')}"
            lines.append(f"| {m['model']} | {how} | {m['fp32_top1']:.2f} ({m['fp32_top2_gap']:.2f}) | {name} "
                         f"| {r['top1']:.2f} | {r['fake_quant_top1']:.2f} | {r['vs_fake_quant']['top1_agreement']:.4f} "
                         f"| {r['vs_fake_quant']['mean_cosine']:.4f} | {floor} | {r['vs_fp32']['top1_agreement']:.4f} "
                         f"| {r['speedup']['1']:.2f}x | {r['speedup']['32']:.2f}x "
                         f"| {r['qlinear_convs']}/{r['convs']} |")
    notes = [f"- {key}: {m['note']}" for key, m in results["models"].items() if m.get("note")]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v3_small", help="comma-separated zoo names")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    parser.add_argument("--batches", type=int, default=200, help="cap on batches (of 128) per epoch; 0: all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads for training and calibration")
    parser.add_argument("--before", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--range-estimators", default="",
                        help="extra INT8 variants with these range estimators, comma-separated (e.g. percentile)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a folder for the trained weights (<arch>.pt, a state_dict); reused when there")
    args = parser.parse_args()
    cifar = args.shared / "data" / "cifar10-jpeg"
    out_json = RESULTS / "int8_trained.json"
    results = json.loads(out_json.read_text()) if out_json.is_file() else {"models": {}}
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": os.cpu_count(),
                          "python": platform.python_version()}
    for arch in [a.strip() for a in args.models.split(",") if a.strip()]:
        log(f"[{arch}]")
        with tempfile.TemporaryDirectory() as tmp:
            entry = measure(arch, cifar, args, Path(tmp))
        entry["training"] = {"optimizer": args.optimizer, "lr": args.lr, "batches_per_epoch": args.batches}
        results["models"][f"{arch}-{args.optimizer}-{args.epochs}x{args.batches or 'all'}"] = entry
        atomic_write_json(out_json, results)
        atomic_write_text(RESULTS / "int8_trained.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
