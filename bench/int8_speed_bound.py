"""How much faster than FP32 can INT8 be on this CPU with ONNX Runtime's kernels? An upper bound from kernel times.

For each FP32/INT8 pair (an INT8 file with every conv a QLinearConv), ONNX Runtime's profiler on 1 thread gives the
kernel time per op kind at batch 1 (each op's fastest of ``--repeats`` profiles taken in turn): FP32 convs
(activations fused into them), int8 convs with the file's weights (uint8 on an x86 CPU without VNNI: u8u8 kernels),
and the same int8 convs with int8 weights (u8s8 kernels: the weights are shifted back by 128 for timing only; on such
a CPU their sums saturate, so that file's outputs are not used). The bound takes, per conv kind (1x1, depthwise,
kxk), the fastest of the three, and every other op type of the FP32 graph at the cheaper of its FP32 and INT8 cost
(free where the INT8 graph does not run it; a conv kind with no int8 kernel in the file, such as ConvTranspose,
at its FP32 cost); ops only the INT8 graph runs (quantize/dequantize, layout changes, int8 activations) are free.
No INT8 graph run by these kernels can beat it; if it is below a speed bar, the bar cannot be met here whatever the
graph. The conv ceiling (every non-conv op free) is printed beside it, and the bound with the int8 activation
kernels the file runs (QLinearMul, QLinearSigmoid, QLinearAdd, Clip: hard-swish, SiLU, squeeze-excitation gates) at
their measured cost: what an all-int8 graph could reach at best.

    .venv/bin/python bench/int8_speed_bound.py \\
        --pair fastestdet runs/.../original-onnx.onnx runs/.../int8-ort-cpu.onnx 3x352x352 \\
        --pair espnet runs/.../original-onnx.onnx runs/.../int8-ort-cpu.onnx 3x360x480

Writes bench/results/int8_speed_bound.json and .md, atomically.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compress_cifar10 import log  # noqa: E402
from families_int8 import op_profile  # noqa: E402

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.quantize.cpu_isa import cpu_flags, int8_saturates  # noqa: E402

RESULTS = REPO / "bench" / "results"
INT8_ACTIVATIONS = ("QLinearMul", "QLinearAdd", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "Clip")
"""The int8 kernels an INT8 graph computes activations and gates with (hard-swish, SiLU, SE): free in the bound, at
their measured cost in the second figure (the alternative, float between dequantize and quantize, is not timed)."""


def int8_weight_copy(path: Path, out: Path) -> int:
    """``path`` with every uint8 weight initializer (zero point 128) stored as int8 (zero point 0); how many.
    The same kernels' shapes with int8 weights (u8s8), for timing only."""
    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    shifted = 0
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3 or node.input[0] not in inits:
            continue
        weight, zero = inits[node.input[0]], inits.get(node.input[2])
        if weight.data_type != onnx.TensorProto.UINT8 or zero is None or len(weight.dims) < 2:
            continue
        values = numpy_helper.to_array(weight).astype("int16") - 128
        weight.CopyFrom(numpy_helper.from_array(values.astype("int8"), weight.name))
        zero.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(zero).astype("int16") - 128).astype("int8"),
                                              zero.name))
        shifted += 1
    onnx.save(model, str(out))
    return shifted


def conv_kind(op: str) -> str | None:
    """``1x1`` / ``dw`` / ``3x3`` ... for a profiled conv entry (``int8 conv dw`` -> ``dw``), else None."""
    name = op.removeprefix("int8 ")
    return name.removeprefix("conv ") if name.startswith("conv") else None


def bound(name: str, fp32: Path, int8: Path, shape: tuple[int, ...], runs: int, repeats: int) -> dict[str, Any]:
    """Profiles of the pair (and the int8-weight copy), ``repeats`` rounds in turn, and the speed-up bound."""
    with tempfile.TemporaryDirectory() as folder:
        u8s8 = Path(folder) / "u8s8.onnx"
        shifted = int8_weight_copy(int8, u8s8)
        files = {"fp32": fp32, "int8": int8, **({"int8_u8s8": u8s8} if shifted else {})}
        rounds = [{variant: op_profile(path, shape, runs, mark_int8=True) for variant, path in files.items()}
                  for _ in range(repeats)]
    # per op, the fastest round: other jobs on a shared machine only ever add time
    profiles = {variant: {op: min(r[variant].get(op, float("inf")) for r in rounds) for op in rounds[0][variant]}
                for variant in files}
    float_convs = {op: ms for op, ms in profiles["int8"].items() if op.startswith("conv")}
    kinds = sorted({k for p in profiles.values() for op in p if (k := conv_kind(op))})
    per_kind = {}
    for kind in kinds:
        times: dict[str, float | None] = {}
        for variant, p in profiles.items():  # None: that variant runs no conv of this kind (int8: as int8)
            found = [ms for op, ms in p.items()
                     if conv_kind(op) == kind and (variant == "fp32" or op.startswith("int8"))]
            times[variant] = round(sum(found), 4) if found else None
        per_kind[kind] = {**times, "best": min(t for t in times.values() if t is not None)}
    other = {op: round(min(ms, *(p.get(op, 0.0) for v, p in profiles.items() if v != "fp32")), 4)
             for op, ms in profiles["fp32"].items() if conv_kind(op) is None}
    convs = sum(k["best"] for k in per_kind.values())
    fp32_total, int8_total = sum(profiles["fp32"].values()), sum(profiles["int8"].values())
    best = sum(other.values()) + convs
    activations = {op: round(min(p.get(op, 0.0) for v, p in profiles.items() if v != "fp32"), 4)
                   for op in INT8_ACTIVATIONS if op in profiles["int8"] and op not in other}  # not counted twice
    with_activations = best + sum(activations.values())
    result = {"model": name, "fp32": str(fp32), "int8": str(int8), "shape": list(shape), "runs": runs,
              "repeats": repeats, "fp32_ms": round(fp32_total, 3), "int8_ms": round(int8_total, 3),
              "measured_speedup": round(fp32_total / int8_total, 3), "per_conv_kind_ms": per_kind,
              "other_ops_bound_ms": other, "bound_ms": round(best, 3), "speedup_bound": round(fp32_total / best, 3),
              "conv_ceiling": round(fp32_total / convs, 3), "int8_activations_ms": activations,
              "speedup_with_int8_activations": round(fp32_total / with_activations, 3),
              "float_convs_in_int8_file": float_convs,
              "profiles": profiles}
    log(f"  {name}: FP32 {fp32_total:.2f} ms, INT8 {int8_total:.2f} ms ({fp32_total / int8_total:.2f}x), "
        f"bound {fp32_total / best:.2f}x, with int8 activations {fp32_total / with_activations:.2f}x, "
        f"conv ceiling {fp32_total / convs:.2f}x")
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = ["# INT8 speed-up bound on this CPU (ONNX Runtime kernels, batch 1, 1 thread)", "",
             f"Machine: {results['machine']}; int8 u8s8 sums saturate here: {results['saturates']}. Kernel ms per run "
             "from ONNX Runtime's profiler (`bench/int8_speed_bound.py`). Bound = per conv kind, the fastest of FP32, "
             "int8 with the file's weights (u8u8 where they are uint8) and int8 with int8 weights (u8s8, timing only); "
             "every other op type of the FP32 graph at the cheaper of its FP32 and INT8 cost (free where INT8 does "
             "not run it); quantize/dequantize, layout changes and int8 activations free. No INT8 graph run by "
             "these kernels is faster than the bound.", ""]
    for r in results["models"]:
        lines += [f"## {r['model']} ({'x'.join(map(str, r['shape']))})", "",
                  f"FP32 {r['fp32_ms']:.2f} ms, INT8 as built {r['int8_ms']:.2f} ms "
                  f"(**{r['measured_speedup']:.2f}x**); **bound {r['speedup_bound']:.2f}x** ({r['bound_ms']:.2f} ms: "
                  f"convs {r['bound_ms'] - sum(r['other_ops_bound_ms'].values()):.2f}, other ops "
                  f"{sum(r['other_ops_bound_ms'].values()):.2f}); conv ceiling (other ops free) "
                  f"{r['conv_ceiling']:.2f}x. With ONNX Runtime's int8 activations at their measured cost "
                  f"({r['int8_activations_ms'] or 'none'}): {r['speedup_with_int8_activations']:.2f}x.", "",
                  "| conv kind | FP32 ms | int8 ms (file's weights) | int8 ms (int8 weights, u8s8) | best |",
                  "|---|---|---|---|---|"]
        for kind, t in r["per_conv_kind_ms"].items():
            cells = [f"{t[v]:.3f}" if t.get(v) is not None else "–" for v in ("fp32", "int8", "int8_u8s8", "best")]
            lines.append(f"| {kind} | {' | '.join(cells)} |")
        costly = {op: ms for op, ms in r["other_ops_bound_ms"].items() if ms >= 0.01}
        lines += ["", f"Other ops in the bound (ms, the cheaper of FP32 and INT8; >= 0.01 ms): {costly}"]
        if r["float_convs_in_int8_file"]:
            lines += ["", f"Convs that stayed float in the INT8 file (not in the int8 columns): "
                          f"{r['float_convs_in_int8_file']}"]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=4, action="append", required=True, metavar=("NAME", "FP32", "INT8", "CxHxW"))
    parser.add_argument("--runs", type=int, default=30, help="inference runs per profile")
    parser.add_argument("--repeats", type=int, default=3, help="profiles per file, taken in turn; each op's fastest")
    args = parser.parse_args()
    models = [bound(name, Path(fp32), Path(int8), tuple(int(v) for v in shape.split("x")), args.runs, args.repeats)
              for name, fp32, int8, shape in args.pair]
    results = {"machine": f"{platform.machine()}, {'VNNI' if cpu_flags() & {'avx512_vnni', 'avx_vnni'} else 'no VNNI'}",
               "saturates": int8_saturates(), "models": models}
    atomic_write_json(RESULTS / "int8_speed_bound.json", results)
    atomic_write_text(RESULTS / "int8_speed_bound.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
