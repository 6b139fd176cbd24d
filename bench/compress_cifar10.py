"""edgecv INT8 PTQ against what a user would otherwise use, measured in the same run on this machine's CPU.

For each model: (a) FP32 ONNX, (b) edgecv INT8 PTQ (ONNX Runtime CPU scheme: BatchNorm folded, uint8 asymmetric
per-tensor activations, int8 per-channel weights stored in the file), and three peers with their defaults:
``nncf-defaults`` (plain ``nncf.quantize``), ``ort-static-defaults`` (ONNX Runtime ``quantize_static``), and
``nncf-folded-per-tensor`` (NNCF after folding BatchNorm, per-tensor activations). All INT8 variants use the same
calibration images (class-balanced, seeded, from CIFAR-10 train). For the CIFAR ResNets (shared checkpoints) also
edgecv's TensorRT-scheme export: its top-1 through ONNX Runtime and the TensorRT 8.5 / 10.3 rule checks.

Per variant: top-1 on the shared val.tar (CIFAR models), ONNX size, MACs, the ops ONNX Runtime fused, and ONNX
Runtime CPU latency p50 at batch 1 and 32 with the ratio to FP32. Timing (DESIGN: measured facts): ORT spinning off
(edgecv OrtRunner), each variant timed as a block after a pause, the order rotated between rounds, each ratio taken
within a round (median over rounds reported).

torchvision resnet18 and mobilenet_v2 run at 224x224 with random weights whose BatchNorm statistics are set by
forward passes in train mode over CIFAR-10 train images upscaled to 224 (realistic activation statistics, no
meaningful accuracy): latency and size only.

Variant (c), prune + KD + INT8: ``--pruned-run RUN_DIR`` adds the INT8 (and pruned FP32) ONNX artifacts of an
``edgecv compress`` run (from its report.json) to the table of the run's model, timed in the same rounds.

    .venv/bin/python bench/compress_cifar10.py --models resnet20,resnet18,mobilenet_v2
    .venv/bin/python bench/compress_cifar10.py --models resnet56 --pruned-run runs/cifar10-resnet56-prune-kd-int8/<id>

Writes bench/results/compress_cifar10.json (merged per model) and bench/results/compress_cifar10.md, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecv.artifacts import InputSpec, Preprocessing, atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.data import calibration_subset, make_loader  # noqa: E402
from edgecv.data.imagefolder import image_folder  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.export.tensorrt_rules import check_onnx_for_tensorrt  # noqa: E402
from edgecv.model_stats import count_macs, count_params  # noqa: E402
from edgecv.models import build_model, model_entry  # noqa: E402
from edgecv.quantize.bn_fold import fold_batchnorm  # noqa: E402
from edgecv.quantize.nncf_ptq import Calibration, calibration_data, strip_quantized  # noqa: E402
from edgecv.quantize.onnx_export import quantize_to_onnx  # noqa: E402
from edgecv.quantize.onnx_graph import ort_fusion  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.validate.latency import measure_latency  # noqa: E402

RESULTS = REPO / "bench" / "results"
TIE = 0.03
"""Paired speed ratios within this fraction count as a tie: rounds on this shared 2-core machine spread more."""
PEERS = ("nncf-defaults", "ort-static-defaults", "nncf-folded-per-tensor")
LABELS = {
    "fp32": "FP32 ONNX", "edgecv-int8": "edgecv INT8 PTQ (ORT CPU scheme)", "nncf-defaults": "NNCF defaults",
    "ort-static-defaults": "ORT quantize_static defaults", "nncf-folded-per-tensor": "NNCF, BN folded, per-tensor act.",
    "edgecv-int8-tensorrt": "edgecv INT8 PTQ (TensorRT scheme; top-1 via ORT)",
}


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    checkpoint: str | None
    size: int
    num_classes: int


MODELS = {
    "resnet20": ModelSpec("resnet20", "cifar10-resnet20-akamaster.th", 32, 10),
    "resnet56": ModelSpec("resnet56", "cifar10-resnet56-akamaster.th", 32, 10),
    "resnet18": ModelSpec("resnet18", None, 224, 1000),
    "mobilenet_v2": ModelSpec("mobilenet_v2", None, 224, 1000),
}


def cifar_splits(shared: Path) -> tuple[Any, Any]:
    """The shared CIFAR-10 JPEG train and val sets."""
    cifar = shared / "data" / "cifar10-jpeg"
    return image_folder(cifar / "train.tar", "train"), image_folder(cifar / "val.tar", "val")


def earlier_results(path: Path) -> dict[str, Any]:
    """The results file a bench merges into (per model), or an empty one."""
    return json.loads(path.read_text()) if path.is_file() else {"models": {}}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@torch.no_grad()
def set_bn_statistics(model: nn.Module, images: torch.Tensor, batch: int = 16) -> None:
    """Random weights, realistic BatchNorm statistics: cumulative running stats over ``images`` in train mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for i in range(0, len(images), batch):
        model(images[i : i + batch])
    model.eval()


def load(name: str, shared: Path, train: Any) -> tuple[nn.Module, Preprocessing]:
    spec = MODELS[name]
    entry = model_entry(spec.arch)
    pre = Preprocessing(size=(spec.size, spec.size), mean=entry.mean, std=entry.std)
    checkpoint = shared / "models" / spec.checkpoint if spec.checkpoint else None
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.num_classes, checkpoint=checkpoint).eval()
    if checkpoint is None:
        images = torch.cat([x for x, _ in make_loader(calibration_subset(train, 128, seed=1), pre, 64)])
        set_bn_statistics(model, images)
    return model, pre


def nncf_peer(model: nn.Module, calibration: Calibration, spec: InputSpec, path: Path, folded: bool) -> None:
    """Plain nncf.quantize (defaults), or after folding BatchNorm with per-tensor activations."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    advanced = None
    if folded:
        model, _ = fold_batchnorm(model)
        advanced = AdvancedQuantizationParameters(
            activations_quantization_params=QuantizationParameters(per_channel=False)
        )
    quantized = nncf.quantize(model, calibration.dataset, subset_size=calibration.batches,
                              advanced_parameters=advanced)
    export_onnx(strip_quantized(quantized, torch.zeros(1, *spec.shape)), spec, path, opset=17)


def ort_peer(fp32: Path, calibration: Calibration, path: Path) -> None:
    """ONNX Runtime quantize_static with its defaults, on the same calibration batches."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration.dataset.get_inference_data())

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch.numpy()}

    quantize_static(str(fp32), str(path), Reader())


def build_variants(name: str, model: nn.Module, pre: Preprocessing, train: Any, folder: Path,
                   calibration_size: int, cifar: bool) -> tuple[dict[str, Path], dict[str, Any]]:
    spec = InputSpec(shape=(3, *pre.size))
    calibration = calibration_data(train, pre, calibration_size, 32, seed=0)
    paths = {v: folder / f"{name}-{v}.onnx" for v in ("fp32", "edgecv-int8", *PEERS)}
    info: dict[str, Any] = {}
    steps = [
        ("fp32", lambda: export_onnx(model, spec, paths["fp32"], opset=17)),
        ("edgecv-int8", lambda: quantize_to_onnx(model, spec, calibration, "onnxruntime-cpu", paths["edgecv-int8"])),
        ("nncf-defaults", lambda: nncf_peer(model, calibration, spec, paths["nncf-defaults"], folded=False)),
        ("ort-static-defaults", lambda: ort_peer(paths["fp32"], calibration, paths["ort-static-defaults"])),
        ("nncf-folded-per-tensor",
         lambda: nncf_peer(model, calibration, spec, paths["nncf-folded-per-tensor"], folded=True)),
    ]
    if cifar:
        paths["edgecv-int8-tensorrt"] = folder / f"{name}-edgecv-int8-tensorrt.onnx"
        steps.append(("edgecv-int8-tensorrt", lambda: quantize_to_onnx(
            model, spec, calibration, "tensorrt", paths["edgecv-int8-tensorrt"])))
    for variant, build in steps:
        started = time.perf_counter()
        build()
        info[variant] = {"build_seconds": round(time.perf_counter() - started, 1)}
        log(f"  built {variant} in {info[variant]['build_seconds']}s")
    info["calibration_images"] = calibration.images
    return paths, info


def top1(path: Path, images: np.ndarray, labels: np.ndarray) -> float:
    with OrtRunner(path, threads=os.cpu_count()) as runner:
        logits = np.concatenate([runner.infer(images[i : i + 250]) for i in range(0, len(images), 250)])
    return float((logits.argmax(1) == labels).mean() * 100)


def runs_for(runner: OrtRunner, shape: tuple[int, ...], batch: int, seconds: float) -> int:
    """Timed runs so one block of the FP32 model lasts about ``seconds`` (3 to 100)."""
    probe = measure_latency(runner, shape, batch, warmup=2, runs=3)
    return int(min(100, max(3, round(seconds * 1000 / probe.p50_ms))))


def time_rounds(paths: dict[str, Path], shape: tuple[int, ...], batches: list[int], rounds: int,
                block_seconds: dict[int, float]) -> dict[str, dict[int, list[float]]]:
    """p50 ms per variant and batch size, one entry per round; variants timed as blocks in rotated order.

    Every variant gets the same number of runs per block at a batch size (sized on the FP32 model).
    """
    names = list(paths)
    times: dict[str, dict[int, list[float]]] = {n: {b: [] for b in batches} for n in names}
    runners = {n: OrtRunner(p, threads=os.cpu_count()) for n, p in paths.items()}
    runs = {b: runs_for(runners["fp32"], shape, b, block_seconds[b]) for b in batches}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for batch in batches:
            for n in order:
                time.sleep(0.3)
                result = measure_latency(runners[n], shape, batch, warmup=max(2, runs[batch] // 5), runs=runs[batch])
                times[n][batch].append(result.p50_ms)
        log(f"  timing round {r + 1}/{rounds} done ({', '.join(f'batch {b}: {n} runs' for b, n in runs.items())})")
    for runner in runners.values():
        runner.close()
    return times


def pruned_variants(run_dir: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """(model arch, {variant: artifact}) for the INT8/mixed ONNX and the pruned FP32 export of an edgecv run."""
    report = json.loads((run_dir / "report.json").read_text())
    arch = report["recipe"]["model"]["arch"]
    onnx_artifacts = [a for a in report["artifacts"] if a["format"] == "onnx"]
    chosen = {}
    exports = [a for s in report["stages"] if s["kind"] == "export-onnx" for a in s["outputs"]]
    if len(exports) > 1:
        chosen["pruned-kd-fp32"] = exports[-1]
    baseline = report["validations"][0]  # the run's unpruned FP32 export (its teacher when it fine-tuned first)
    for a in onnx_artifacts:
        if a["precision"] in ("int8", "mixed") and (not a["targets"] or "host-cpu" in a["targets"]):
            chosen[f"pruned-kd-{a['name']}"] = {**a, "run_baseline": baseline["artifact"],
                                                "run_baseline_top1": baseline["metrics"]["top1"]}
    return arch, chosen


def median(values: list[float]) -> float:
    return float(np.median(values))


def summarize(name: str, model: nn.Module, paths: dict[str, Path], info: dict[str, Any], times: dict[str, Any],
              accuracy: dict[str, float], extra: dict[str, dict[str, Any]], shape: tuple[int, ...]) -> dict[str, Any]:
    macs, params = count_macs(model, shape), count_params(model)
    rows = []
    for variant, path in paths.items():
        timed = times.get(variant, {})
        per_round = {str(b): [round(f / v, 3) for f, v in zip(times["fp32"][b], timed[b], strict=True)]
                     for b in timed}
        speedup = {b: round(median(r), 3) for b, r in per_round.items()}
        fusion = ort_fusion(path)
        row = {
            "variant": variant, "label": LABELS.get(variant, variant), "size_bytes": path.stat().st_size,
            "size_ratio": round(paths["fp32"].stat().st_size / path.stat().st_size, 3),
            "macs": extra.get(variant, {}).get("macs") or macs,
            "params": extra.get(variant, {}).get("params") or params,
            "top1": accuracy.get(variant), "latency_p50_ms": {str(b): round(median(v), 4) for b, v in timed.items()},
            "latency_rounds_ms": {str(b): [round(x, 4) for x in v] for b, v in timed.items()}, "speedup": speedup,
            "speedup_rounds": per_round,
            "qlinear_convs": fusion.get("QLinearConv", 0), "convs": fusion["convs"],
            "float_convs": fusion["float_convs"], **info.get(variant, {}),
            **{k: v for k, v in extra.get(variant, {}).items() if k.startswith("run_baseline") and v is not None},
        }
        if variant == "edgecv-int8-tensorrt":
            row["tensorrt_check"] = {v: check_onnx_for_tensorrt(path, v).summary() for v in ("8.5", "10.3")}
        rows.append(row)
    return {"model": name, "input": list(shape), "calibration_images": info.get("calibration_images"),
            "weights": "shared checkpoint" if MODELS[name].checkpoint else
            "random, BatchNorm statistics from train-mode passes over 128 CIFAR-10 train images at 224x224",
            "variants": rows, "acceptance": acceptance(name, rows)}


def acceptance(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's acceptance lines that this model's numbers decide, each with pass/fail and the numbers."""
    by = {r["variant"]: r for r in rows}
    me, fp32, peers = by["edgecv-int8"], by["fp32"], [by[p] for p in PEERS if p in by]
    out: list[dict[str, Any]] = []

    def line(text: str, ok: bool, value: str) -> None:
        out.append({"check": text, "pass": bool(ok), "measured": value})

    if fp32["top1"] is not None:
        best = max(peers, key=lambda r: r["top1"])
        line("edgecv top-1 within 0.1 of the most accurate peer", me["top1"] >= best["top1"] - 0.1,
             f"{me['top1']:.2f} vs {best['label']} {best['top1']:.2f}")
    for b in ("1", "32"):
        fastest = max(peers, key=lambda r: r["speedup"][b])
        paired = median([p / m for p, m in zip(fastest["latency_rounds_ms"][b], me["latency_rounds_ms"][b],
                                               strict=True)])
        line(f"edgecv no slower than the fastest peer at batch {b} (paired per round, ties within "
             f"{TIE:.0%} count as no slower)", paired >= 1 - TIE,
             f"{me['speedup'][b]:.2f}x vs {fastest['label']} {fastest['speedup'][b]:.2f}x; "
             f"{fastest['label']} time / edgecv time = {paired:.3f} (median of rounds)")
    if name == "resnet20":
        line("top-1 drop <= 0.3 vs FP32 ONNX", fp32["top1"] - me["top1"] <= 0.3, f"{fp32['top1'] - me['top1']:+.2f}")
        line("ONNX >= 3.5x smaller", me["size_ratio"] >= 3.5, f"{me['size_ratio']:.2f}x")
        line("batch 1 >= 1.7x FP32", me["speedup"]["1"] >= 1.7, f"{me['speedup']['1']:.2f}x")
        line("batch 32 >= 2x FP32", me["speedup"]["32"] >= 2.0, f"{me['speedup']['32']:.2f}x")
    if name in ("resnet18", "mobilenet_v2"):
        need = 2.5 if name == "resnet18" else 1.8
        line(f"batch 1 >= {need}x FP32", me["speedup"]["1"] >= need, f"{me['speedup']['1']:.2f}x")
    for r in rows:
        if r["variant"].startswith("pruned-kd-") and r["variant"] != "pruned-kd-fp32":
            line(f"{r['variant']}: top-1 >= FP32 - 1.0", (r["top1"] or 0) >= fp32["top1"] - 1.0, f"{r['top1']}")
            if r.get("run_baseline_top1") is not None:  # stricter: against the run's own unpruned (fine-tuned) model
                line(f"{r['variant']}: top-1 >= the run's unpruned FP32 ({r['run_baseline']}) - 1.0",
                     (r["top1"] or 0) >= r["run_baseline_top1"] - 1.0,
                     f"{r['top1']} vs {r['run_baseline_top1']}")
            for b in ("1", "32"):
                line(f"{r['variant']}: batch {b} >= 3x FP32", r["speedup"][b] >= 3.0, f"{r['speedup'][b]:.2f}x")
            line(f"{r['variant']}: params <= 50%", r["params"] <= fp32["params"] / 2,
                 f"{r['params']} ({r['params'] / fp32['params']:.1%})")
            line(f"{r['variant']}: MACs <= 50%", r["macs"] <= fp32["macs"] / 2,
                 f"{r['macs']} ({r['macs'] / fp32['macs']:.1%})")
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# edgecv INT8 vs peers (bench/compress_cifar10.py)", "",
        f"Machine: {results['machine']['cpu']}, {results['machine']['threads']} ONNX Runtime threads. "
        "Speed = FP32 p50 / variant p50 within the same timing round (median over rounds); milliseconds drift "
        "between runs, ratios do not. Size ratio = FP32 ONNX bytes / variant bytes. convs fused = QLinearConv / "
        "Conv in the graph ONNX Runtime executes.", "",
    ]
    for model in results["models"].values():
        lines += [f"## {model['model']} ({'x'.join(map(str, model['input']))}; {model['weights']}; "
                  f"{model['calibration_images']} calibration images; measured {model['measured']})", "",
                  "| variant | top-1 | batch 1 | batch 32 | ONNX size | MACs | convs fused |",
                  "|---|---|---|---|---|---|---|"]
        for r in model["variants"]:
            top = f"{r['top1']:.2f}" if r["top1"] is not None else "–"
            lat = {b: (f"{r['latency_p50_ms'][b]:.3f} ms ({r['speedup'][b]:.2f}x)" if b in r["speedup"] else "–")
                   for b in ("1", "32")}
            lines.append(f"| {r['label']} | {top} | {lat['1']} | {lat['32']} | {r['size_bytes'] / 1e6:.3f} MB "
                         f"({r['size_ratio']:.2f}x) | {r['macs'] / 1e6:.1f}M | {r['qlinear_convs']}/{r['convs']} |")
        trt = next((r for r in model["variants"] if "tensorrt_check" in r), None)
        lines.append("")
        if trt:
            lines += [f"TensorRT-scheme export: {'; '.join(trt['tensorrt_check'].values())}", ""]
        lines += [f"- {'PASS' if a['pass'] else 'FAIL'}: {a['check']} ({a['measured']})" for a in model["acceptance"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet18,mobilenet_v2", help=f"from {', '.join(MODELS)}")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")))
    parser.add_argument("--calibration", type=int, default=512,
                        help="calibration images (CIFAR models; edgecv's default data.calibration_size)")
    parser.add_argument("--calibration-224", type=int, default=128, help="calibration images (224x224 models)")
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (variant order rotated each round)")
    parser.add_argument("--block", type=float, default=0.5, help="seconds per timed block at batch 1")
    parser.add_argument("--block-32", type=float, default=2.0, help="seconds per timed block at batch 32")
    parser.add_argument("--pruned-run", type=Path, action="append", default=[], help="an edgecv run dir (variant c)")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    pruned = [pruned_variants(run) for run in args.pruned_run]
    names += [arch for arch, _ in pruned if arch not in names]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    train, val = cifar_splits(args.shared)
    out_json = RESULTS / "compress_cifar10.json"
    results = earlier_results(out_json)
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": os.cpu_count(),
                          "python": platform.python_version()}
    for name in names:
        started = time.perf_counter()
        log(f"[{name}]")
        model, pre = load(name, args.shared, train)
        is_cifar = MODELS[name].checkpoint is not None
        size = args.calibration if is_cifar else args.calibration_224
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            paths, info = build_variants(name, model, pre, train, folder, size, is_cifar)
            extra: dict[str, dict[str, Any]] = {}
            for arch, artifacts in pruned:
                if arch == name:
                    for variant, a in artifacts.items():
                        paths[variant] = Path(a["path"])
                        extra[variant] = {"macs": a.get("macs"), "params": a.get("params"),
                                          "run_baseline": a.get("run_baseline"),
                                          "run_baseline_top1": a.get("run_baseline_top1")}
            accuracy: dict[str, float] = {}
            if is_cifar:
                batches = list(make_loader(val, pre, 500))
                images = np.concatenate([x.numpy() for x, _ in batches])
                labels = np.concatenate([y.numpy() for _, y in batches])
                accuracy = {v: top1(p, images, labels) for v, p in paths.items()}
                log("  top-1: " + ", ".join(f"{v} {a:.2f}" for v, a in accuracy.items()))
            timed = {v: p for v, p in paths.items() if v != "edgecv-int8-tensorrt"}
            times = time_rounds(timed, (3, *pre.size), [1, 32], args.rounds, {1: args.block, 32: args.block_32})
            entry = summarize(name, model, paths, info, times, accuracy, extra, (3, *pre.size))
        entry["measured"] = time.strftime("%Y-%m-%d %H:%M")
        entry["timing"] = {"rounds": args.rounds, "block_seconds": {"1": args.block, "32": args.block_32},
                           "ort_threads": os.cpu_count(), "spinning": "off"}
        entry["seconds"] = round(time.perf_counter() - started, 1)
        results["models"][name] = entry
        atomic_write_json(out_json, results)
        atomic_write_text(RESULTS / "compress_cifar10.md", markdown(results))
        log(f"  done in {entry['seconds']}s")
    print(markdown(results))


if __name__ == "__main__":
    main()
