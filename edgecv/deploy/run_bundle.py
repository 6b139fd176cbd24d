#!/usr/bin/env python3
"""Measure a deploy bundle on the device: the task's metric on the bundled images, latency per batch, device state.

The metric is the task's (``task.json``; see ``task_scores``): top-1/top-5 for a classifier, COCO mAP@0.5:0.95 and
@0.5 after edgecv's score threshold + per-class NMS for a detector, mIoU and pixel accuracy for a segmenter.

Needs only numpy and TensorRT (+ cuda-python or pycuda) on the device; ``--backend onnxruntime`` runs the same
logic through ONNX Runtime on any machine (that is how it is tested without a GPU). Usage, in the bundle::

    python3 run_bundle.py                       # build model.engine if missing, measure, write results.json
    python3 run_bundle.py --backend onnxruntime --runs 20
    python3 run_bundle.py --rebuild --build api # rebuild with the TensorRT Python API instead of trtexec

Then, on the machine with the run: ``edgecv report RUN_DIR --import results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__:
    from . import device_state, task_scores, trt_engine, trt_infer
else:  # run from a bundle folder: the sibling modules
    import device_state  # type: ignore[no-redef]
    import task_scores  # type: ignore[no-redef]
    import trt_engine  # type: ignore[no-redef]
    import trt_infer  # type: ignore[no-redef]

RESULTS_FORMAT = "edgecv-device-results/1"
HERE = Path(__file__).resolve().parent


def preprocess(images: np.ndarray, pre: dict[str, Any]) -> np.ndarray:
    """uint8 NCHW RGB images (already at the model's size) -> float32 model input, as edgecv does it."""
    x = images.astype(np.float32)
    if pre.get("channel_order", "RGB") == "BGR":
        x = x[:, ::-1]
    mean = np.asarray(pre["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(pre["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x * np.float32(pre["scale"]) - mean) / std)


def summarize(times_ms: list[float], batch: int) -> dict[str, Any]:
    p50, p90, p99 = (float(v) for v in np.percentile(times_ms, [50, 90, 99]))
    return {
        "batch": batch,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "mean_ms": float(np.mean(times_ms)),
        "throughput": batch * 1000 / p50 if p50 > 0 else 0.0,
        "runs": len(times_ms),
    }


class OrtBackend:
    """ONNX Runtime on the CPU (spinning off, like edgecv's OrtRunner); timed with perf_counter."""

    name, timer = "onnxruntime", "perf_counter"

    def __init__(self, path: Path, threads: int | None, optimize: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if not optimize:  # a graph in TensorRT's Q/DQ form: its exact fake quantization, as edgecv scored it
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.threads = threads or os.cpu_count() or 1
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.last_ms = 0.0

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(None, {self.input_name: batch}), strict=True))

    def close(self) -> None:
        del self.session


class TrtBackend:
    """A TensorRT engine; latency is the enqueue timed with CUDA events."""

    name, timer, threads = "tensorrt", "cuda-events", None

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.last_ms = 0.0

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return next(iter(self.infer_all(batch).values()))

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = self.engine.infer_all(batch)
        self.last_ms = self.engine.last_gpu_ms
        return out

    def close(self) -> None:
        self.engine.close()


def ensure_engine(bundle: Path, plan: dict[str, Any], how: str, rebuild: bool) -> Path:
    """Build the engine when it is missing (or ``rebuild``): trtexec through build_engine.sh, or the Python API."""
    engine = bundle / plan["engine"]
    if engine.is_file() and not rebuild:
        return engine
    trtexec = os.environ.get("TRTEXEC") or shutil.which("trtexec") or "/usr/src/tensorrt/bin/trtexec"
    if how == "trtexec" or (how == "auto" and Path(trtexec).is_file()):
        print(f"building {engine.name} with trtexec (build_engine.sh)", flush=True)
        subprocess.run(["bash", str(bundle / "build_engine.sh")], cwd=bundle, check=True)
    else:
        print(f"building {engine.name} with the TensorRT Python API", flush=True)
        trt_engine.build_engine(bundle / plan["onnx"], engine, plan)
    return engine


def write_sidecar(bundle: Path, plan: dict[str, Any], built_with: str) -> Path:
    """Record what built the engine (after build_engine.sh ran trtexec)."""
    trt = trt_infer.import_tensorrt()
    engine = bundle / plan["engine"]
    strongly = trt_engine.effective_typing(plan, trt_engine.version_tuple(trt.__version__), print)
    info_path = bundle / plan.get("layer_info", f"{plan['engine']}.layers.json")
    layers = None
    if info_path.is_file():
        summary = trt_engine.summarize_layers(json.loads(info_path.read_text()))
        layers = {k: v for k, v in summary.items() if k != "layers"}
    sidecar = trt_engine.make_sidecar(engine, plan, trt_infer.runtime_identity(trt), built_with, strongly, layers)
    return trt_engine.write_sidecar(engine, sidecar)


def accuracy(
    backend: Any, images: np.ndarray, data: dict[str, np.ndarray], info: dict[str, Any], pre: dict[str, Any],
    batches: tuple[int, int],
) -> dict[str, Any]:
    """The task's metric on the bundled images, in batches the engine takes (the last one padded, padding dropped)."""
    low, high = batches
    size = max(low, min(high, 32))
    scorer = task_scores.make_scorer(info, data)
    for start in range(0, len(images), size):
        chunk = images[start : start + size]
        n = len(chunk)
        if n < low:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], low - n, axis=0)])
        outputs = backend.infer_all(preprocess(chunk, pre))
        scorer.update({name: np.asarray(value)[:n] for name, value in outputs.items()}, start)
    return scorer.compute()


def latency(backend: Any, shape: list[int], batch: int, warmup: int, runs: int) -> dict[str, Any]:
    """Warm up, then time ``runs`` batches; CUDA-event times for TensorRT, wall times for ONNX Runtime."""
    data = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    for _ in range(warmup):
        backend.infer(data)
    device_ms, host_ms = [], []
    for _ in range(runs):
        started = time.perf_counter()
        backend.infer(data)
        host_ms.append((time.perf_counter() - started) * 1000)
        device_ms.append(backend.last_ms)
    result = summarize(device_ms if backend.timer == "cuda-events" else host_ms, batch)
    result.update(timer=backend.timer, host_p50_ms=float(np.median(host_ms)), threads=backend.threads)
    return result


def open_backend(args: argparse.Namespace, bundle: Path, plan: dict[str, Any]) -> tuple[Any, dict | None]:
    if args.backend == "onnxruntime":
        return OrtBackend(bundle / plan["onnx"], args.threads, not plan.get("ort_fake_quantized", False)), None
    engine_path = ensure_engine(bundle, plan, args.build, args.rebuild)
    expected = {"onnx_sha256": plan.get("onnx_sha256"), "precision": plan["precision"]}
    sidecar = trt_engine.check_engine(engine_path, expected=expected)
    return TrtBackend(trt_infer.TrtEngine(engine_path)), sidecar


def run(args: argparse.Namespace) -> dict[str, Any]:
    bundle = Path(args.bundle).resolve()
    plan = json.loads((bundle / "build_plan.json").read_text())
    pre = json.loads((bundle / "preprocessing.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    info = json.loads((bundle / "task.json").read_text()) if (bundle / "task.json").is_file() else {}
    with np.load(bundle / "val.npz", allow_pickle=False) as npz:
        data = {name: npz[name] for name in npz.files}
    images = data["images"][: args.max_images]
    backend, sidecar = open_backend(args, bundle, plan)
    try:
        low, high = (plan["min_batch"], plan["max_batch"]) if args.backend == "tensorrt" else (1, 1 << 30)
        if args.backend == "onnxruntime" and not plan["dynamic_batch"]:
            low = high = plan["min_batch"]
        acc = accuracy(backend, images, data, info, pre, (low, high)) if len(images) else None
        if acc:
            headline = task_scores.headline(info.get("task", "classification"), acc)
            print(f"{headline} ({backend.name})", flush=True)
        sizes = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else plan_batch_sizes(plan)
        timings = []
        for batch in (b for b in sizes if low <= b <= high):
            timings.append(latency(backend, plan["input_shape"], batch, args.warmup, args.runs))
            print(f"batch {batch}: p50 {timings[-1]['p50_ms']:.3f} ms ({timings[-1]['timer']})", flush=True)
    finally:
        backend.close()
    return {
        "format": RESULTS_FORMAT,
        "bundle": {k: manifest.get(k) for k in ("name", "device", "artifact", "edgecv_version")},
        "task": info.get("task", "classification"),
        "onnx_sha256": plan.get("onnx_sha256"),
        "backend": backend.name,
        "precision": plan["precision"] if backend.name == "tensorrt" else "onnx",
        "engine": sidecar,
        "accuracy": acc,
        "latency": timings,
        "device_state": None if args.no_device_state else device_state.device_state(),
        "host": {"machine": platform.machine(), "python": platform.python_version(), "node": platform.node()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def plan_batch_sizes(plan: dict[str, Any]) -> list[int]:
    """Powers of two within the engine's batch range, plus its min/opt/max (as BuildPlan.batch_sizes)."""
    low, high = plan["min_batch"], plan["max_batch"]
    powers = {1 << i for i in range(high.bit_length()) if low <= 1 << i <= high}
    return sorted(powers | {low, plan["opt_batch"], high})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(HERE), help="bundle folder (default: this script's)")
    parser.add_argument("--backend", choices=["tensorrt", "onnxruntime"], default="tensorrt")
    parser.add_argument(
        "--build",
        choices=["auto", "trtexec", "api"],
        default="auto",
        help="how to build a missing engine: trtexec (build_engine.sh) or the TensorRT Python API",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the engine even if one exists")
    parser.add_argument("--batch-sizes", default="", help="comma-separated (default: the engine's sweep)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--output", default="results.json")
    parser.add_argument("--no-device-state", action="store_true", help="skip nvpmodel/clocks/tegrastats")
    parser.add_argument("--write-sidecar", action="store_true", help="only record what built the engine")
    parser.add_argument("--built-with", default="trtexec")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = Path(args.bundle).resolve()
    try:
        if args.write_sidecar:
            plan = json.loads((bundle / "build_plan.json").read_text())
            print(f"wrote {write_sidecar(bundle, plan, args.built_with)}")
            return 0
        results = run(args)
    except (trt_infer.EngineError, task_scores.BundleDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output).resolve()
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
