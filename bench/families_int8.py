"""Does edgecv's CPU-scheme INT8 pay for every architecture family? INT8 vs FP32 on ONNX Runtime CPU, same rounds.

For each family (torchvision models and a user CNN with SE, concat, depthwise and SiLU) at 32x32, and
mobilenet_v3_large, efficientnet_b0 and resnet18 at 224x224: random weights with realistic BatchNorm statistics
(train-mode passes over 128 CIFAR-10 train images, ``compress_cifar10.set_bn_statistics``), FP32 ONNX
(``edgecv.export.onnx.export_onnx``) and edgecv INT8 (the quantize stage's path: BatchNorm folded,
``quantize_ptq`` in the ``onnxruntime-cpu`` scheme, ``write_qdq_onnx``), plus with ``--before`` the same INT8
without the conv-output quantizers and activation rewrites of issue 10 (what the scheme did before).

Per model: batch-1 and batch-32 speed ratio FP32 p50 / INT8 p50 (each ratio within one round; rounds rotate the
order: ``compress_cifar10.time_rounds``), ONNX size ratio, convs fused (QLinearConv / Conv in the graph ONNX Runtime
executes), top-1 agreement of the INT8 ONNX with its fake-quantized torch model and with FP32 on real CIFAR-10 val
images (random weights: near-flat logits, so agreement is a strict test), the same agreement with the
fake-quantized model on the confident samples only (margin-aware: the quantize stage's own parity rule,
``edgecv.validate.parity.compare_outputs`` with ``QuantParity``'s default ``min_margin``: a sample counts when the
fake-quantized model's top-2 margin is at least 0.2x the logit scale), a noise floor for both (the fake-quantized
model against itself on inputs plus 1e-4 noise), and the cause when INT8 is not faster
(``edgecv.validate.int8_speed.float_cause``: which ops stayed float).

    .venv/bin/python bench/families_int8.py                                   # everything (~1 h on 2 cores)
    .venv/bin/python bench/families_int8.py --models mobilenet_v3_large@224,efficientnet_b0@224 --rounds 9

Writes bench/results/families_int8.json (merged per model) and bench/results/families_int8.md, atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log, set_bn_statistics, time_rounds  # noqa: E402

from edgecv.artifacts import InputSpec, Preprocessing, atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.data import calibration_subset, make_loader  # noqa: E402
from edgecv.data.imagefolder import image_folder  # noqa: E402
from edgecv.export.onnx import export_onnx  # noqa: E402
from edgecv.models import build_model, model_entry  # noqa: E402
from edgecv.quantize.bn_fold import fold_batchnorm  # noqa: E402
from edgecv.quantize.cpu_isa import int8_saturates  # noqa: E402
from edgecv.quantize.nncf_ptq import calibration_data, quantize_ptq, strip_quantized  # noqa: E402
from edgecv.quantize.onnx_export import weight_storage, write_qdq_onnx  # noqa: E402
from edgecv.quantize.onnx_graph import ort_fusion  # noqa: E402
from edgecv.quantize.schemes import ORT_CPU  # noqa: E402
from edgecv.runtime import OrtRunner  # noqa: E402
from edgecv.stages.quantize import QuantizeParams, QuantParity  # noqa: E402
from edgecv.validate.int8_speed import float_cause  # noqa: E402
from edgecv.validate.parity import compare_outputs  # noqa: E402

RESULTS = REPO / "bench" / "results"
ARCHS = {"user_cnn": "tests.families.user_models:factory"}
AT_32 = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "regnet_x_400mf",
         "shufflenet_v2_x0_5", "squeezenet1_1", "densenet121", "user_cnn"]
AT_224 = ["mobilenet_v3_large", "efficientnet_b0", "resnet18"]
DEFAULT = [f"{m}@32" for m in AT_32] + [f"{m}@224" for m in AT_224]
BAR = {"mobilenet_v3_large@224": 1.3, "efficientnet_b0@224": 1.3}
"""The issue's bar: INT8 >= 1.3x FP32 at batch 1 and 32, top-1 agreement with the fake-quantized model >= 0.98."""
MIN_AGREEMENT = 0.98
SPEED_FIRST = frozenset(f"{m}@224" for m in AT_224)
"""Models also quantized with ``weight_type: int8`` where the default stores uint8 weights (a CPU whose u8s8
kernels saturate): 7-bit int8 weights that run the faster u8s8 kernels (variant ``int8-s8``)."""
PARITY = QuantParity()
"""The quantize stage's INT8 parity criteria as shipped: its ``min_margin`` decides which samples are confident."""
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def build(arch: str, size: int, train: Any) -> tuple[nn.Module, Preprocessing]:
    """Random weights (seeded), BatchNorm statistics from train-mode passes over 128 real images at ``size``."""
    entry = model_entry(ARCHS.get(arch, arch))
    mean, std = (entry.mean, entry.std) if entry else IMAGENET
    pre = Preprocessing(size=(size, size), mean=mean, std=std)
    torch.manual_seed(0)
    model = build_model(ARCHS.get(arch, arch), 10).eval()
    images = torch.cat([x for x, _ in make_loader(calibration_subset(train, 128, seed=1), pre, 64)])
    set_bn_statistics(model, images)
    return model, pre


def quantize(model: nn.Module, spec: InputSpec, calibration: Any, path: Path, before: bool,
             weight_type: str = "auto", range_estimator: str = "auto") -> nn.Module:
    """The quantize stage's CPU-scheme path (``before``: without issue 10's output quantizers; ``weight_type`` and
    ``range_estimator`` as the recipe's ``quantize`` settings); the stripped model."""
    scheme = dataclasses.replace(ORT_CPU, quantize_conv_outputs=False) if before else ORT_CPU
    params = QuantizeParams(type="quantize", weight_type=weight_type, range_estimator=range_estimator)
    folded, _ = fold_batchnorm(model)
    quantized = quantize_ptq(folded, scheme, calibration, params, [])
    write_qdq_onnx(quantized, spec, path, opset=17, weights=weight_storage(ORT_CPU, params))
    return strip_quantized(quantized, torch.zeros(1, *spec.shape))


def _conv_kinds(optimized: Path, mark_int8: bool = False) -> dict[str, str]:
    """Node name -> ``conv dw`` / ``conv 1x1`` / ``conv kxk`` for the convs of an optimized ONNX Runtime graph
    (``int8 conv ...`` for a QLinearConv when ``mark_int8``)."""
    import onnx

    model = onnx.load(str(optimized))
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    kinds = {}
    for node in model.graph.node:
        if "Conv" in node.op_type:
            dims = weights.get(node.input[3 if node.op_type == "QLinearConv" else 1], [])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            kind = "conv dw" if group > 1 else f"conv {dims[-1]}x{dims[-1]}" if dims else "conv"
            kind = "conv transpose" if node.op_type == "ConvTranspose" else kind
            kinds[node.name] = f"int8 {kind}" if mark_int8 and node.op_type == "QLinearConv" else kind
    return kinds


def op_profile(path: Path, shape: tuple[int, ...], runs: int, mark_int8: bool = False) -> dict[str, float]:
    """Kernel milliseconds per run at batch 1, by op type (convs by kind, int8 ones apart when ``mark_int8``),
    from ONNX Runtime's profiler on 1 thread.

    Shares of kernel time move far less with other load on this machine than wall times do.
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        kinds = _conv_kinds(Path(folder) / "optimized.onnx", mark_int8)
        feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal((1, *shape), dtype=np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    counted = sum(e.get("name") == "model_run" for e in events)
    times: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            kind = kinds.get(e["name"].removesuffix("_kernel_time"), e["args"]["op_name"])
            times[kind] = times.get(kind, 0.0) + e["dur"] / 1000 / counted
    return {k: round(v, 4) for k, v in sorted(times.items(), key=lambda kv: -kv[1])}


def logits_onnx(path: Path, images: np.ndarray) -> np.ndarray:
    with OrtRunner(path, threads=os.cpu_count()) as runner:
        return np.concatenate([runner.infer(images[i : i + 100]) for i in range(0, len(images), 100)])


@torch.no_grad()
def logits_torch(model: nn.Module, images: np.ndarray) -> np.ndarray:
    return np.concatenate([model(torch.from_numpy(images[i : i + 100])).numpy() for i in range(0, len(images), 100)])


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, mean cosine, and how flat ``b``'s logits are (median top-2 gap / logit std)."""
    cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    top2 = np.sort(b, axis=1)[:, -2:]
    return {"top1_agreement": round(float((a.argmax(1) == b.argmax(1)).mean()), 4),
            "mean_cosine": round(float(cosine.mean()), 5),
            "reference_top2_gap": round(float(np.median(top2[:, 1] - top2[:, 0]) / max(float(b.std()), 1e-30)), 4)}


def margin_aware(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement on the confident samples only, judged as the quantize stage's parity judges an INT8 export
    (``compare_outputs`` with ``QuantParity``'s default ``min_margin``: the reference's top-2 margin at least
    ``min_margin`` x its logit scale), and how many samples count (``top1_agreement`` None when none does)."""
    result = compare_outputs(reference, candidate, PARITY)
    agree = result.confident_top1_agreement
    return {"top1_agreement": None if agree is None else round(agree, 4), "confident_samples": result.confident_samples,
            "samples": result.samples, "confident_fraction": round(result.confident_samples / result.samples, 4),
            "min_margin": PARITY.min_margin, "logit_scale": round(float(result.logit_scale or 0.0), 5)}


def noise_floor(model: nn.Module, images: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """The fake-quantized model against itself on the images plus 1e-4 Gaussian noise: how far rounding flips alone
    move its outputs. A random-weight quantized net is chaotic (a flipped rounding step propagates), so its INT8
    agreement can be no better than this; trained weights are not. ``confident``: the same on the confident samples
    (the reference decides which, so they are the samples the INT8 export's margin-aware agreement counts)."""
    noisy = logits_torch(model, images + np.random.default_rng(0).normal(0, 1e-4, images.shape).astype(np.float32))
    return {**agreement(noisy, reference), "confident": margin_aware(reference, noisy)}


def measure(key: str, train: Any, val: Any, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    arch, size = key.split("@")[0], int(key.split("@")[1])
    started = time.perf_counter()
    model, pre = build(arch, size, train)
    spec = InputSpec(shape=(3, size, size))
    calibration = calibration_data(train, pre, args.calibration if size <= 64 else args.calibration_224, 32, seed=0)
    paths = {"fp32": folder / f"{arch}-{size}-fp32.onnx", "int8": folder / f"{arch}-{size}-int8.onnx"}
    export_onnx(model, spec, paths["fp32"], opset=17)
    fakes = {"int8": quantize(model, spec, calibration, paths["int8"], before=False)}
    if key in SPEED_FIRST and weight_storage(ORT_CPU) == "uint8":  # the faster int8 kernels, at 7-bit weights
        paths["int8-s8"] = folder / f"{arch}-{size}-int8-s8.onnx"
        fakes["int8-s8"] = quantize(model, spec, calibration, paths["int8-s8"], before=False, weight_type="int8")
    if args.before:
        paths["int8-before"] = folder / f"{arch}-{size}-int8-before.onnx"
        quantize(model, spec, calibration, paths["int8-before"], before=True)
    log(f"  built in {time.perf_counter() - started:.0f}s")
    count = args.images if size <= 64 else args.images_224
    batches = list(make_loader(calibration_subset(val, count, seed=2), pre, 100))
    images = np.concatenate([x.numpy() for x, _ in batches])
    fp32 = logits_onnx(paths["fp32"], images)
    times = time_rounds(paths, (3, size, size), [1, 32], args.rounds, {1: args.block, 32: args.block_32})
    profiles = {name: op_profile(path, (3, size, size), args.profile_runs) for name, path in paths.items()
                if args.profile_runs and size > 64 and name in ("fp32", "int8")}
    variants = {}
    for name, path in paths.items():
        if name == "fp32":
            continue
        per_round = {str(b): [round(f / v, 3) for f, v in zip(times["fp32"][b], times[name][b], strict=True)]
                     for b in (1, 32)}
        speedup = {b: round(float(np.median(r)), 3) for b, r in per_round.items()}
        fusion = ort_fusion(path)
        row: dict[str, Any] = {
            "speedup": speedup, "speedup_rounds": per_round,
            "latency_p50_ms": {str(b): round(float(np.median(times[name][b])), 4) for b in (1, 32)},
            "fp32_latency_p50_ms": {str(b): round(float(np.median(times["fp32"][b])), 4) for b in (1, 32)},
            "size_ratio": round(paths["fp32"].stat().st_size / path.stat().st_size, 3),
            "qlinear_convs": fusion.get("QLinearConv", 0), "convs": fusion["convs"],
            "float_ops": fusion["float_ops"], "qdq": fusion["qdq"], "layout": fusion["layout"],
        }
        if min(speedup.values()) <= 1.0:
            row["cause"] = float_cause(path)[0]
        if name in fakes:
            int8, fq = logits_onnx(path, images), logits_torch(fakes[name], images)
            row["vs_fake_quant"] = {**agreement(int8, fq), "confident": margin_aware(fq, int8)}
            row["vs_fp32"] = agreement(int8, fp32)
            row["fake_quant_noise_floor"] = noise_floor(fakes[name], images, fq)
        variants[name] = row
    return {"model": arch, "input": [3, size, size], "calibration_images": calibration.images,
            "images": len(images), "weights": "random, BatchNorm statistics from train-mode passes over 128 "
            f"CIFAR-10 train images at {size}x{size}", "variants": variants,
            "timing": {"rounds": args.rounds, "block_seconds": {"1": args.block, "32": args.block_32},
                       "ort_threads": os.cpu_count(), "spinning": "off"},
            **({"batch1_kernel_ms": profiles} if profiles else {}),
            "measured": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter() - started, 1)}


def acceptance(key: str, entry: dict[str, Any], variant: str = "int8") -> list[dict[str, Any]]:
    """The issue's lines for ``key``: INT8 faster than FP32 (every model), and the 1.3x / 0.98 bar at 224."""
    me = entry["variants"][variant]
    label = "INT8" if variant == "int8" else f"INT8 ({variant})"
    out = [{"check": f"{label} faster than FP32 at batch {b}", "pass": me["speedup"][b] > 1.0,
            "measured": f"{me['speedup'][b]:.2f}x"} for b in ("1", "32")]
    if key in BAR:
        out += [{"check": f"{label} >= {BAR[key]}x FP32 at batch {b}", "pass": me["speedup"][b] >= BAR[key],
                 "measured": f"{me['speedup'][b]:.2f}x"} for b in ("1", "32")]
        agree = me["vs_fake_quant"]["top1_agreement"]
        floor = me["fake_quant_noise_floor"]
        out.append({"check": f"plain top-1 agreement with the fake-quantized model, all samples, >= {MIN_AGREEMENT}",
                    "pass": agree >= MIN_AGREEMENT,
                    "measured": f"{agree:.4f}; noise floor {floor['top1_agreement']:.4f}"})
        sure, sure_floor = me["vs_fake_quant"]["confident"], floor["confident"]
        agree = sure["top1_agreement"]
        out.append({
            "check": f"margin-aware top-1 agreement with the fake-quantized model >= {MIN_AGREEMENT}, on the confident "
            f"samples (its top-2 margin >= {sure['min_margin']:g}x the logit scale: quantize.parity's rule)",
            "pass": agree is not None and agree >= MIN_AGREEMENT,
            "measured": (f"{agree:.4f}" if agree is not None else "no confident sample") + f" on "
            f"{sure['confident_samples']}/{sure['samples']} samples; noise floor on the same samples "
            + (f"{sure_floor['top1_agreement']:.4f}" if sure_floor["top1_agreement"] is not None else "–"),
        })
    return out


def _confident(result: dict[str, Any] | None) -> str:
    """``0.990 (62/200)``: margin-aware agreement and the samples it counts; ``–`` for rows measured before it."""
    sure = (result or {}).get("confident")
    if not sure:
        return "–"
    agree = "none" if sure["top1_agreement"] is None else f"{sure['top1_agreement']:.3f}"
    return f"{agree} ({sure['confident_samples']}/{sure['samples']})"


def _spread(row: dict[str, Any], batch: str) -> str:
    """``1.31x (1.05-1.62)``: the median ratio and its range over the rounds."""
    rounds = row["speedup_rounds"][batch]
    return f"{row['speedup'][batch]:.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# edgecv INT8 (ONNX Runtime CPU scheme) vs FP32, per family (bench/families_int8.py)", "",
        f"Machine: {results['machine']['cpu']}, {results['machine']['threads']} ONNX Runtime threads, spinning off"
        + ("" if "int8_saturates" not in results["machine"] else
           f"; int8 u8s8 kernels saturate here: {results['machine']['int8_saturates']}, so the CPU scheme's weights "
           f"are stored as {results['machine']['cpu_scheme_weights']}") + ". "
        "Speed = FP32 p50 / INT8 p50 within the same timing round: median over rounds (range over rounds; rounds "
        "rotate the order; this shared machine ran other work meanwhile, so single rounds swing widely). "
        "Random weights with realistic BatchNorm statistics. Agreement = top-1 agreement on CIFAR-10 val images "
        "(logits near flat: gap = median top-2 gap / logit std of the reference; the noise column is the "
        "fake-quantized model against itself on inputs plus 1e-4 noise: the agreement rounding flips alone allow). "
        f"Margin-aware = the same agreements on the confident samples only (fake-quantized top-2 margin >= "
        f"{PARITY.min_margin:g}x its logit scale: the quantize stage's parity rule and default; in brackets how many "
        "of the images count; the noise floor counts the same images; – = row measured before this column). "
        "convs fused = QLinearConv / Conv "
        "in the graph ONNX Runtime executes. *before* = the scheme before issue 10 (no conv-output quantizers).", "",
        "| model | input | INT8 batch 1 | INT8 batch 32 | before: b1 / b32 | size | convs fused (before) "
        "| agree vs fake-quant (gap) | fake-quant vs itself + 1e-4 noise "
        "| margin-aware: agree vs fake-quant (confident) / noise floor | agree vs FP32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for key, m in results["models"].items():
        me, old = m["variants"]["int8"], m["variants"].get("int8-before")
        before = f"{old['speedup']['1']:.2f}x / {old['speedup']['32']:.2f}x" if old else "–"
        fused = f"{me['qlinear_convs']}/{me['convs']}" + (f" ({old['qlinear_convs']}/{old['convs']})" if old else "")
        fq, fp, floor = me["vs_fake_quant"], me["vs_fp32"], me.get("fake_quant_noise_floor")
        floor_text = f"{floor['top1_agreement']:.3f} (cos {floor['mean_cosine']:.3f})" if floor else "–"
        lines.append(f"| {m['model']} | {m['input'][1]}x{m['input'][2]} | {_spread(me, '1')} | "
                     f"{_spread(me, '32')} | {before} | {me['size_ratio']:.2f}x smaller | {fused} | "
                     f"{fq['top1_agreement']:.3f} (cos {fq['mean_cosine']:.3f}, gap {fq['reference_top2_gap']:.2f}) | "
                     f"{floor_text} | {_confident(fq)} / {_confident(floor)} | {fp['top1_agreement']:.3f} |")
        if "cause" in me:
            notes.append(f"- {key}: INT8 not faster at every batch size: {me['cause']}.")
    lines += ["", "## When INT8 is not faster", "", *(notes or ["- none"])]
    lines += speed_first_table(results)
    lines += profile_tables(results)
    lines += ["", "## Acceptance", "", "Issue 10's batch-1 bar at 224 is decided by block timings that swing between "
              "rounds on this shared machine (see the ranges above): `int8_batch1.md` compares them with the per-op "
              "profile and interleaved runs, and says where the INT8 time goes.", ""]
    for key, m in results["models"].items():
        lines += [f"- {'PASS' if a['pass'] else 'FAIL'}: {key}: {a['check']} ({a['measured']})"
                  for a in m["acceptance"]]
    return "\n".join(lines) + "\n"


def speed_first_table(results: dict[str, Any]) -> list[str]:
    """Rows for the ``int8-s8`` variant (``weight_type: int8``) next to the default's, where it was measured."""
    rows = [(key, m) for key, m in results["models"].items() if "int8-s8" in m["variants"]]
    if not rows:
        return []
    lines = ["", "## Speed-first weights: `weight_type: int8` on a CPU whose u8s8 kernels saturate", "",
             "The default stores uint8 weights here (u8u8 kernels: no saturation, full 8 bits, slower); "
             "`weight_type: int8` stores half-range int8 weights (7 bits, |w| <= 64) that run MLAS's u8s8 kernels. "
             "Same rounds as the table above; agreement against each variant's own fake-quantized model.", "",
             "| model | weights | batch 1 | batch 32 | agree vs fake-quant | margin-aware (confident) / noise floor "
             "| agree vs FP32 |", "|---|---|---|---|---|---|---|"]
    for key, m in rows:
        for variant, weights in (("int8", "uint8 (default here)"), ("int8-s8", "int8, 7-bit")):
            me = m["variants"][variant]
            fq, floor = me["vs_fake_quant"], me.get("fake_quant_noise_floor")
            lines.append(f"| {key} | {weights} | {_spread(me, '1')} | {_spread(me, '32')} | "
                         f"{fq['top1_agreement']:.3f} | {_confident(fq)} / {_confident(floor)} | "
                         f"{me['vs_fp32']['top1_agreement']:.3f} |")
    return lines


def profile_tables(results: dict[str, Any]) -> list[str]:
    """Per model with a profile: batch-1 kernel ms by op, FP32 against INT8 (ops under 2% of both left out)."""
    lines: list[str] = []
    for key, m in results["models"].items():
        profile = m.get("batch1_kernel_ms")
        if not profile:
            continue
        fp32, int8 = profile["fp32"], profile["int8"]
        total = {"fp32": sum(fp32.values()), "int8": sum(int8.values())}
        if not lines:
            lines += ["", "## Where batch-1 time goes (ONNX Runtime profiler, 1 thread, kernel ms per run)", "",
                      "Sum of kernel times per op (convs by kind) over 100 runs in a separate 1-thread session right "
                      "after the timing; the shares move far less with other load than wall times do, the absolute "
                      "ms do not (compare FP32 with INT8 of one model only)."]
        lines += ["", f"**{key}**: FP32 {total['fp32']:.2f} ms, INT8 {total['int8']:.2f} ms "
                  f"({total['fp32'] / total['int8']:.2f}x)", "", "| op | FP32 ms | INT8 ms |", "|---|---|---|"]
        ops = sorted(set(fp32) | set(int8), key=lambda op: -max(fp32.get(op, 0), int8.get(op, 0)))
        for op in ops:
            if max(fp32.get(op, 0) / total["fp32"], int8.get(op, 0) / total["int8"]) >= 0.02:
                lines.append(f"| {op} | {fp32.get(op, 0):.3f} | {int8.get(op, 0):.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT), help="arch@size, comma-separated")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")))
    parser.add_argument("--calibration", type=int, default=512, help="calibration images at 32x32")
    parser.add_argument("--calibration-224", type=int, default=128, help="calibration images at 224x224")
    parser.add_argument("--images", type=int, default=500, help="val images for agreement at 32x32")
    parser.add_argument("--images-224", type=int, default=200, help="val images for agreement at 224x224")
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (order rotated each round)")
    parser.add_argument("--block", type=float, default=0.5, help="seconds per timed block at batch 1")
    parser.add_argument("--block-32", type=float, default=2.0, help="seconds per timed block at batch 32")
    parser.add_argument("--before", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the scheme before issue 10")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads (NNCF calibration, fake-quant)")
    parser.add_argument("--results-name", default="families_int8",
                        help="bench/results/NAME.json and .md (another name keeps another machine's figures apart)")
    parser.add_argument("--profile-runs", type=int, default=100,
                        help="batch-1 runs profiled per op at 224x224 (0: no profile)")
    parser.add_argument("--keep", type=Path, default=None, help="a folder to keep the ONNX files in")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)  # 2 threads ran 10x slower than 1 on this loaded machine
    cifar = args.shared / "data" / "cifar10-jpeg"
    train, val = image_folder(cifar / "train.tar", "train"), image_folder(cifar / "val.tar", "val")
    out_json = RESULTS / f"{args.results_name}.json"
    results = json.loads(out_json.read_text()) if out_json.is_file() else {"models": {}}
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": os.cpu_count(),
                          "python": platform.python_version(), "int8_saturates": int8_saturates(),
                          "cpu_scheme_weights": weight_storage(ORT_CPU)}
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        log(f"[{key}]")
        if args.keep is not None:  # the FP32 and INT8 files stay (e.g. for bench/int8_speed_bound.py)
            args.keep.mkdir(parents=True, exist_ok=True)
            entry = measure(key, train, val, args, args.keep)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                entry = measure(key, train, val, args, Path(tmp))
        entry["acceptance"] = [line for variant in ("int8", "int8-s8") if variant in entry["variants"]
                               for line in acceptance(key, entry, variant)]
        results["models"][key] = entry
        atomic_write_json(out_json, results)
        atomic_write_text(RESULTS / f"{args.results_name}.md", markdown(results))
        me = entry["variants"]["int8"]
        log(f"  {key}: {me['speedup']['1']:.2f}x / {me['speedup']['32']:.2f}x, fused {me['qlinear_convs']}/"
            f"{me['convs']}, agreement {me['vs_fake_quant']['top1_agreement']:.3f}, margin-aware "
            f"{_confident(me['vs_fake_quant'])} / noise {_confident(me['fake_quant_noise_floor'])} "
            f"({entry['seconds']:.0f}s)")
    print(markdown(results))


if __name__ == "__main__":
    main()
